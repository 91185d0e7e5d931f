package monitor

// TierStats counts one cache tier's lookups.
type TierStats struct {
	// Hits are the lookups this tier answered, whatever the answer: a live
	// session, or a definite refusal (a tombstone, a cached "unknown", a
	// store row that is revoked or expired).
	Hits uint64
	// Misses are the lookups that went past this tier: to the next tier,
	// or, for the last tier, unanswered (it failed).
	Misses uint64
}

// CacheStats are running totals of the session lookups by tier, fastest
// first. Each counter only grows; a smaller reading than the previous one
// is taken as a restart of the counters.
type CacheStats struct {
	L1    TierStats
	Redis TierStats
	Store TierStats
}

// CacheStatsFromAnswers builds CacheStats from how many lookups each tier
// answered and how many no tier answered. With a session.Stats st, where
// a tier t answered st.Hits[t]+st.Refused[t] lookups:
//
//	monitor.CacheStatsFromAnswers(
//		st.Hits[session.TierL1]+st.Refused[session.TierL1],
//		st.Hits[session.TierRedis]+st.Refused[session.TierRedis],
//		st.Hits[session.TierStore]+st.Refused[session.TierStore],
//		st.Failed)
func CacheStatsFromAnswers(l1, redis, store, unanswered uint64) CacheStats {
	return CacheStats{
		L1:    TierStats{Hits: l1, Misses: redis + store + unanswered},
		Redis: TierStats{Hits: redis, Misses: store + unanswered},
		Store: TierStats{Hits: store, Misses: unanswered},
	}
}

// since returns the lookups counted between base and c. When any counter
// went backwards, the counters restarted and c itself is returned.
func (c CacheStats) since(base CacheStats) CacheStats {
	if c.L1.Hits < base.L1.Hits || c.L1.Misses < base.L1.Misses ||
		c.Redis.Hits < base.Redis.Hits || c.Redis.Misses < base.Redis.Misses ||
		c.Store.Hits < base.Store.Hits || c.Store.Misses < base.Store.Misses {
		return c
	}
	return CacheStats{
		L1:    TierStats{c.L1.Hits - base.L1.Hits, c.L1.Misses - base.L1.Misses},
		Redis: TierStats{c.Redis.Hits - base.Redis.Hits, c.Redis.Misses - base.Redis.Misses},
		Store: TierStats{c.Store.Hits - base.Store.Hits, c.Store.Misses - base.Store.Misses},
	}
}

// hitRate is the fraction of lookups answered by a cache tier (L1 or
// Redis), i.e. that did not reach the store. Lookups are the L1 lookups;
// when the L1 counted none (no L1), the Redis lookups.
func (c CacheStats) hitRate() (rate float64, lookups uint64) {
	hits := c.L1.Hits + c.Redis.Hits
	lookups = c.L1.Hits + c.L1.Misses
	if lookups == 0 {
		hits, lookups = c.Redis.Hits, c.Redis.Hits+c.Redis.Misses
	}
	if lookups == 0 {
		return 0, 0
	}
	return float64(hits) / float64(lookups), lookups
}

// tierRates returns the fraction of the lookups the L1 answered, and the
// fraction of the lookups that reached Redis that Redis answered; each is 0
// when its tier saw no lookup.
func (c CacheStats) tierRates() (l1, redis float64) {
	if n := c.L1.Hits + c.L1.Misses; n > 0 {
		l1 = float64(c.L1.Hits) / float64(n)
	}
	if n := c.Redis.Hits + c.Redis.Misses; n > 0 {
		redis = float64(c.Redis.Hits) / float64(n)
	}
	return l1, redis
}
