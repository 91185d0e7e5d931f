// Package storetest is the conformance suite for session.Store
// implementations. Every Store runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) session.Store {
//			s, err := mystore.Open(…)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/studiohq/studio/session"
)

// Run runs the conformance suite as subtests of t.
//
// open is called once per subtest (with the subtest's t) and returns a Store
// that stays usable until that subtest ends; the opener should close it in
// t.Cleanup. Stores from different calls may share one database: the suite
// uses fresh tokens, session IDs and user IDs in every subtest and never
// assumes the store is empty. The Close subtest closes its store itself, so
// the opener's cleanup may call Close a second time.
func Run(t *testing.T, open func(t *testing.T) session.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s session.Store)
	}{
		{"CreateLookup", testCreateLookup},
		{"LookupNotFound", testLookupNotFound},
		{"CreateDuplicate", testCreateDuplicate},
		{"CreateBatch", testCreateBatch},
		{"CreateBatchDuplicate", testCreateBatchDuplicate},
		{"Revoke", testRevoke},
		{"RevokeNotFound", testRevokeNotFound},
		{"RevokeUser", testRevokeUser},
		{"RevokedSince", testRevokedSince},
		{"Touch", testTouch},
		{"TouchEmpty", testTouchEmpty},
		{"TouchLargeBatch", testTouchLargeBatch},
		{"Concurrent", testConcurrent},
		{"CanceledContext", testCanceledContext},
		{"TokenTags", testTokenTags},
		{"Ping", testPing},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil Store")
			}
			tc.fn(t, s)
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// now is the suite's clock: the current time in UTC at millisecond
// precision, as the service hands times to a Store.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// hashKey tags the suite's tokens. The Store never sees a token, only its
// hash, so the key need not be the store's.
var hashKey = func() session.TokenKey {
	k, err := session.NewTokenKey()
	if err != nil {
		panic(err)
	}
	return k
}()

// newHash returns the hash of a fresh token, made the way the service does.
func newHash(t testing.TB) session.TokenHash {
	t.Helper()
	tok, err := hashKey.NewToken()
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	h, err := session.ParseToken(tok.Reveal())
	if err != nil {
		t.Fatalf("ParseToken(NewToken()): %v", err)
	}
	return h
}

func newUser() string { return "user_" + randHex(8) }

// newRecord returns a live session of user created at base, valid for an hour.
func newRecord(t testing.TB, user string, base time.Time) session.Record {
	t.Helper()
	return session.Record{
		Hash: newHash(t),
		Session: session.Session{
			ID:         "sess_" + randHex(12),
			UserID:     user,
			CreatedAt:  base,
			LastSeenAt: base,
			ExpiresAt:  base.Add(time.Hour),
		},
	}
}

func mustCreate(t testing.TB, ctx context.Context, s session.Store, rec session.Record) {
	t.Helper()
	if err := s.Create(ctx, rec); err != nil {
		t.Fatalf("Create(%s): %v", rec.Session.ID, err)
	}
}

func mustLookup(t testing.TB, ctx context.Context, s session.Store, h session.TokenHash) session.Session {
	t.Helper()
	got, err := s.Lookup(ctx, h)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	return got
}

// checkUTC fails unless every time in sess is in UTC.
func checkUTC(t testing.TB, sess session.Session) {
	t.Helper()
	for name, tm := range map[string]time.Time{
		"CreatedAt": sess.CreatedAt, "LastSeenAt": sess.LastSeenAt, "ExpiresAt": sess.ExpiresAt,
	} {
		if tm.Location() != time.UTC {
			t.Errorf("%s location = %v, want UTC", name, tm.Location())
		}
	}
	if sess.RevokedAt != nil && sess.RevokedAt.Location() != time.UTC {
		t.Errorf("RevokedAt location = %v, want UTC", sess.RevokedAt.Location())
	}
}

// checkSame fails unless got equals want field by field (times compared as
// values, so location and instant both count).
func checkSame(t testing.TB, got, want session.Session) {
	t.Helper()
	checkUTC(t, got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("session mismatch:\n got  %s\n want %s", describe(got), describe(want))
	}
}

func describe(s session.Session) string {
	rev := "<nil>"
	if s.RevokedAt != nil {
		rev = s.RevokedAt.Format(time.RFC3339Nano) + " " + s.RevokedAt.Location().String()
	}
	f := func(t time.Time) string { return t.Format(time.RFC3339Nano) + " " + t.Location().String() }
	return fmt.Sprintf("{ID:%s UserID:%s CreatedAt:%s LastSeenAt:%s ExpiresAt:%s IdleTimeout:%v RevokedAt:%s Metadata:%#v}",
		s.ID, s.UserID, f(s.CreatedAt), f(s.LastSeenAt), f(s.ExpiresAt), s.IdleTimeout, rev, s.Metadata)
}

func ptr[T any](v T) *T { return &v }

func testCreateLookup(t *testing.T, s session.Store) {
	ctx := ctxFor(t)
	base := now()
	user := newUser()

	full := newRecord(t, user, base.Add(-time.Minute))
	full.Session.LastSeenAt = base.Add(-1500 * time.Millisecond)
	full.Session.ExpiresAt = base.Add(30*24*time.Hour + 7*time.Millisecond)
	full.Session.IdleTimeout = 90 * time.Minute
	full.Session.Metadata = map[string]string{"ip": "192.0.2.7", "ua": "curl/8 \"quoted\" ünïcødé", "empty": ""}

	revoked := newRecord(t, user, base)
	revoked.Session.RevokedAt = ptr(base.Add(time.Second))

	emptyMeta := newRecord(t, user, base)
	emptyMeta.Session.Metadata = map[string]string{}

	// Times in another zone come back as the same instant in UTC.
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	zoned := newRecord(t, user, base.In(zone))
	zoned.Session.ExpiresAt = base.Add(time.Hour).In(zone)

	// Times before 1970 and far in the future survive too.
	far := newRecord(t, user, time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC))
	far.Session.ExpiresAt = time.Date(2999, 1, 2, 3, 4, 5, 6_000_000, time.UTC)

	for _, rec := range []session.Record{full, revoked, emptyMeta, zoned, far} {
		mustCreate(t, ctx, s, rec)
	}

	checkSame(t, mustLookup(t, ctx, s, full.Hash), full.Session)
	checkSame(t, mustLookup(t, ctx, s, revoked.Hash), revoked.Session)

	want := emptyMeta.Session
	want.Metadata = nil // an empty map is normalised to nil
	checkSame(t, mustLookup(t, ctx, s, emptyMeta.Hash), want)

	want = zoned.Session
	want.CreatedAt, want.LastSeenAt, want.ExpiresAt = want.CreatedAt.UTC(), want.LastSeenAt.UTC(), want.ExpiresAt.UTC()
	checkSame(t, mustLookup(t, ctx, s, zoned.Hash), want)

	checkSame(t, mustLookup(t, ctx, s, far.Hash), far.Session)

	// The returned metadata belongs to the caller.
	got := mustLookup(t, ctx, s, full.Hash)
	got.Metadata["ip"] = "changed"
	checkSame(t, mustLookup(t, ctx, s, full.Hash), full.Session)
}

func testLookupNotFound(t *testing.T, s session.Store) {
	ctx := ctxFor(t)
	h := newHash(t)
	_, err := s.Lookup(ctx, h)
	if !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Lookup(unknown) error = %v, want ErrNotFound", err)
	}
	checkNoSecret(t, err, h)
	var zero session.TokenHash
	if _, err := s.Lookup(ctx, zero); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Lookup(zero hash) error = %v, want ErrNotFound", err)
	}
}

// checkNoSecret fails if err's text contains the hash in any common form.
func checkNoSecret(t testing.TB, err error, h session.TokenHash) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	if strings.Contains(strings.ToLower(msg), h.Hex()) || strings.Contains(msg, string(h[:])) ||
		strings.Contains(msg, fmt.Sprint(h[:])) || strings.Contains(strings.ToLower(msg), fmt.Sprintf("%x", h[:8])) {
		t.Errorf("error text contains the token hash: %q", msg)
	}
}

func testCreateDuplicate(t *testing.T, s session.Store) {
	ctx := ctxFor(t)
	base := now()
	orig := newRecord(t, newUser(), base)
	mustCreate(t, ctx, s, orig)

	sameHash := newRecord(t, newUser(), base.Add(time.Second))
	sameHash.Hash = orig.Hash
	err := s.Create(ctx, sameHash)
	if err == nil {
		t.Fatal("Create with a duplicate hash succeeded")
	}
	checkNoSecret(t, err, orig.Hash)
	if _, err := s.Lookup(ctx, sameHash.Hash); err != nil {
		t.Fatalf("Lookup after duplicate: %v", err)
	}

	sameID := newRecord(t, newUser(), base.Add(time.Second))
	sameID.Session.ID = orig.Session.ID
	if err := s.Create(ctx, sameID); err == nil {
		t.Fatal("Create with a duplicate session ID succeeded")
	}
	if _, err := s.Lookup(ctx, sameID.Hash); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("the refused record was stored: Lookup error = %v, want ErrNotFound", err)
	}

	checkSame(t, mustLookup(t, ctx, s, orig.Hash), orig.Session)
}

// batchSize is the size of the suite's batches: large enough for a store
// that splits a batch into statements to split it, and no round number.
const batchSize = 1203

// newBatch returns n live records of user, varied as Create's test varies
// them: metadata, an idle timeout, revoked ones.
func newBatch(t testing.TB, user string, base time.Time, n int) []session.Record {
	t.Helper()
	recs := make([]session.Record, n)
	for i := range recs {
		recs[i] = newRecord(t, user, base.Add(time.Duration(i)*time.Millisecond))
		switch i % 4 {
		case 1:
			recs[i].Session.Metadata = map[string]string{"i": fmt.Sprint(i), "ua": "curl/8 ünïcødé"}
		case 2:
			recs[i].Session.IdleTimeout = 90 * time.Minute
		case 3:
			recs[i].Session.RevokedAt = ptr(base.Add(time.Second))
		}
	}
	return recs
}

func testCreateBatch(t *testing.T, s session.Store) {
	ctx := ctxFor(t)
	if err := s.CreateBatch(ctx, nil); err != nil {
		t.Fatalf("CreateBatch(empty): %v", err)
	}
	recs := newBatch(t, newUser(), now(), batchSize)
	if err := s.CreateBatch(ctx, recs); err != nil {
		t.Fatalf("CreateBatch(%d records): %v", len(recs), err)
	}
	for _, rec := range recs {
		checkSame(t, mustLookup(t, ctx, s, rec.Hash), rec.Session)
	}
	// A batch of one, and batches after it, work as well; its session,
	// expiring far later than any other of a shared database, is a tagged
	// one, as Create's: it does not count in LegacyUntil.
	one := newBatch(t, newUser(), now(), 1)
	one[0].Session.ExpiresAt = now().Add(time.Duration(1000+mrand.IntN(1000)) * 24 * time.Hour)
	if err := s.CreateBatch(ctx, one); err != nil {
		t.Fatalf("CreateBatch(1 record): %v", err)
	}
	checkSame(t, mustLookup(t, ctx, s, one[0].Hash), one[0].Session)
	tags, err := s.TokenTags(ctx)
	if err != nil {
		t.Fatalf("TokenTags: %v", err)
	}
	if !tags.LegacyUntil.Before(one[0].Session.ExpiresAt) {
		t.Fatalf("LegacyUntil %v counts a session CreateBatch stored (expiring %v)", tags.LegacyUntil, one[0].Session.ExpiresAt)
	}
}

// testCreateBatchDuplicate: a batch with a hash or an ID already stored,
// or repeated within it, fails whole; nothing of it is stored and the
// stored session is unchanged.
func testCreateBatchDuplicate(t *testing.T, s session.Store) {
	ctx := ctxFor(t)
	base := now()
	orig := newRecord(t, newUser(), base)
	mustCreate(t, ctx, s, orig)
	last := batchSize - 1 // late in the batch: rows before it were written
	for name, spoil := range map[string]func(recs []session.Record){
		"stored hash":       func(recs []session.Record) { recs[last].Hash = orig.Hash },
		"stored session ID": func(recs []session.Record) { recs[last].Session.ID = orig.Session.ID },
		"hash twice":        func(recs []session.Record) { recs[last].Hash = recs[0].Hash },
		"session ID twice":  func(recs []session.Record) { recs[last].Session.ID = recs[0].Session.ID },
	} {
		t.Run(name, func(t *testing.T) {
			recs := newBatch(t, newUser(), base, batchSize)
			spoil(recs)
			err := s.CreateBatch(ctx, recs)
			if err == nil {
				t.Fatal("CreateBatch succeeded")
			}
			checkNoSecret(t, err, orig.Hash)
			for _, i := range []int{0, 1, batchSize / 2} {
				if _, err := s.Lookup(ctx, recs[i].Hash); !errors.Is(err, session.ErrNotFound) {
					t.Fatalf("record %d of the refused batch was stored: Lookup error = %v, want ErrNotFound", i, err)
				}
			}
		})
	}
	checkSame(t, mustLookup(t, ctx, s, orig.Hash), orig.Session)
}

func testRevoke(t *testing.T, s session.Store) {
	ctx := ctxFor(t)
	base := now()
	rec := newRecord(t, newUser(), base)
	rec.Session.Metadata = map[string]string{"k": "v"}
	rec.Session.IdleTimeout = time.Minute
	other := newRecord(t, rec.Session.UserID, base)
	mustCreate(t, ctx, s, rec)
	mustCreate(t, ctx, s, other)

	at := base.Add(2 * time.Second)
	want := rec.Session
	want.RevokedAt = ptr(at)
	got, err := s.Revoke(ctx, rec.Hash, at)
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	checkSame(t, got, want)
	checkSame(t, mustLookup(t, ctx, s, rec.Hash), want)

	// Again, later and at the same time: the first revocation time stays.
	for _, again := range []time.Time{at.Add(time.Minute), at} {
		got, err = s.Revoke(ctx, rec.Hash, again)
		if err != nil {
			t.Fatalf("second Revoke: %v", err)
		}
		checkSame(t, got, want)
	}
	checkSame(t, mustLookup(t, ctx, s, rec.Hash), want)

	// The user's other session is untouched.
	checkSame(t, mustLookup(t, ctx, s, other.Hash), other.Session)
}

// testRevokedSince: revocations made by Revoke and RevokeUser are read
// back by RevokedSince with their revocation times, oldest first, from
// since on, without the sessions that expire by now. Other subtests may
// share the database, so only this subtest's sessions are looked at.
func testRevokedSince(t *testing.T, s session.Store) {
	ctx := ctxFor(t)
	base := now()
	user := newUser()
	early, late, expiring, other := newRecord(t, user, base), newRecord(t, user, base), newRecord(t, newUser(), base), newRecord(t, newUser(), base)
	expiring.Session.ExpiresAt = base.Add(time.Second)
	for _, r := range []session.Record{early, late, expiring, other} {
		mustCreate(t, ctx, s, r)
	}
	if _, err := s.Revoke(ctx, early.Hash, base.Add(-time.Minute)); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := s.Revoke(ctx, expiring.Hash, base); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := s.RevokeUser(ctx, user, base.Add(time.Second)); err != nil { // late only: early is revoked already
		t.Fatalf("RevokeUser: %v", err)
	}
	ours := map[session.TokenHash]bool{early.Hash: true, late.Hash: true, expiring.Hash: true, other.Hash: true}
	read := func(since, at time.Time) []session.Revocation {
		t.Helper()
		var got []session.Revocation
		err := s.RevokedSince(ctx, since, at, func(r session.Revocation) error {
			if ours[r.Hash] {
				got = append(got, r)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("RevokedSince: %v", err)
		}
		return got
	}
	got := read(base.Add(-time.Minute), base.Add(time.Second))
	want := []session.Revocation{
		{Hash: early.Hash, SessionID: early.Session.ID, ExpiresAt: early.Session.ExpiresAt, RevokedAt: base.Add(-time.Minute)},
		{Hash: late.Hash, SessionID: late.Session.ID, ExpiresAt: late.Session.ExpiresAt, RevokedAt: base.Add(time.Second)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RevokedSince(-1m) = %v,\nwant %v (the expired and the live session left out, oldest first, with their RevokedAt)", revIDs(got), revIDs(want))
	}
	if got := read(base, base); len(got) != 2 || got[0].Hash != expiring.Hash || got[1].Hash != late.Hash {
		t.Fatalf("RevokedSince(base) = %v, want the expiring session then the late one", revIDs(got))
	}
}

func testRevokeNotFound(t *testing.T, s session.Store) {
	ctx := ctxFor(t)
	h := newHash(t)
	_, err := s.Revoke(ctx, h, now())
	if !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Revoke(unknown) error = %v, want ErrNotFound", err)
	}
	checkNoSecret(t, err, h)
	if _, err := s.Lookup(ctx, h); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Revoke(unknown) created something: Lookup error = %v", err)
	}
}

func testRevokeUser(t *testing.T, s session.Store) {
	ctx := ctxFor(t)
	base := now()
	at := base.Add(time.Minute)
	user, otherUser := newUser(), newUser()

	live1 := newRecord(t, user, base)
	live2 := newRecord(t, user, base)
	live2.Session.ExpiresAt = at.Add(time.Millisecond) // just alive at at
	live2.Session.Metadata = map[string]string{"device": "phone"}
	expired := newRecord(t, user, base.Add(-2*time.Hour)) // expired an hour ago
	boundary := newRecord(t, user, base)
	boundary.Session.ExpiresAt = at // not valid at its expiry instant
	already := newRecord(t, user, base)
	alreadyAt := base.Add(time.Second)
	already.Session.RevokedAt = ptr(alreadyAt)
	other := newRecord(t, otherUser, base)
	for _, r := range []session.Record{live1, live2, expired, boundary, already, other} {
		mustCreate(t, ctx, s, r)
	}

	revs, err := s.RevokeUser(ctx, user, at)
	if err != nil {
		t.Fatalf("RevokeUser: %v", err)
	}
	want := []session.Revocation{
		{Hash: live1.Hash, SessionID: live1.Session.ID, ExpiresAt: live1.Session.ExpiresAt, RevokedAt: at},
		{Hash: live2.Hash, SessionID: live2.Session.ID, ExpiresAt: live2.Session.ExpiresAt, RevokedAt: at},
	}
	sortRevs(revs)
	sortRevs(want)
	if !reflect.DeepEqual(revs, want) {
		t.Fatalf("RevokeUser returned %d revocations %v,\nwant %d: %v", len(revs), revIDs(revs), len(want), revIDs(want))
	}
	for _, r := range revs {
		if r.ExpiresAt.Location() != time.UTC || r.RevokedAt.Location() != time.UTC {
			t.Errorf("Revocation.ExpiresAt, RevokedAt locations = %v, %v, want UTC", r.ExpiresAt.Location(), r.RevokedAt.Location())
		}
	}

	for _, r := range []session.Record{live1, live2} {
		w := r.Session
		w.RevokedAt = ptr(at)
		checkSame(t, mustLookup(t, ctx, s, r.Hash), w)
	}
	// Expired sessions, revoked sessions and other users' sessions are left alone.
	checkSame(t, mustLookup(t, ctx, s, expired.Hash), expired.Session)
	checkSame(t, mustLookup(t, ctx, s, boundary.Hash), boundary.Session)
	checkSame(t, mustLookup(t, ctx, s, already.Hash), already.Session)
	checkSame(t, mustLookup(t, ctx, s, other.Hash), other.Session)

	// Nothing is left to revoke.
	revs, err = s.RevokeUser(ctx, user, at.Add(time.Second))
	if err != nil {
		t.Fatalf("second RevokeUser: %v", err)
	}
	if len(revs) != 0 {
		t.Fatalf("second RevokeUser returned %d revocations, want 0", len(revs))
	}
	revs, err = s.RevokeUser(ctx, newUser(), at)
	if err != nil || len(revs) != 0 {
		t.Fatalf("RevokeUser(unknown user) = %d revocations, %v; want 0, nil", len(revs), err)
	}
}

func sortRevs(r []session.Revocation) {
	slices.SortFunc(r, func(a, b session.Revocation) int { return strings.Compare(a.SessionID, b.SessionID) })
}

func revIDs(r []session.Revocation) []string {
	var ids []string
	for _, x := range r {
		ids = append(ids, x.SessionID+"@"+x.ExpiresAt.Format(time.RFC3339Nano))
	}
	return ids
}

func testTouch(t *testing.T, s session.Store) {
	ctx := ctxFor(t)
	base := now()
	user := newUser()
	a := newRecord(t, user, base)
	b := newRecord(t, user, base)
	b.Session.Metadata = map[string]string{"x": "y"}
	b.Session.IdleTimeout = 10 * time.Minute
	c := newRecord(t, user, base)
	revoked := newRecord(t, user, base)
	revoked.Session.RevokedAt = ptr(base)
	expired := newRecord(t, user, base.Add(-2*time.Hour)) // expired an hour ago
	for _, r := range []session.Record{a, b, c, revoked, expired} {
		mustCreate(t, ctx, s, r)
	}

	live, err := s.Touch(ctx, []session.Touch{
		{Hash: a.Hash, At: base.Add(5 * time.Second)},
		{Hash: newHash(t), At: base.Add(time.Hour)}, // unknown: ignored
		{Hash: b.Hash, At: base.Add(3 * time.Second)},
		{Hash: b.Hash, At: base.Add(9 * time.Second)}, // latest wins
		{Hash: b.Hash, At: base.Add(4 * time.Second)},
		{Hash: c.Hash, At: base.Add(-time.Minute)}, // backward: ignored
		{Hash: revoked.Hash, At: base.Add(time.Second)},
		{Hash: expired.Hash, At: base.Add(time.Second)},
	}, base)
	if err != nil {
		t.Fatalf("Touch: %v", err)
	}
	want := func(r session.Record, lastSeen time.Time) session.Session {
		w := r.Session
		w.LastSeenAt = lastSeen
		return w
	}
	checkSame(t, mustLookup(t, ctx, s, a.Hash), want(a, base.Add(5*time.Second)))
	checkSame(t, mustLookup(t, ctx, s, b.Hash), want(b, base.Add(9*time.Second)))
	checkSame(t, mustLookup(t, ctx, s, c.Hash), c.Session)
	checkSame(t, mustLookup(t, ctx, s, revoked.Hash), want(revoked, base.Add(time.Second)))
	// The live sessions named, once each, with their state after the
	// write; not the revoked, expired or unknown ones. c is live though
	// its last_seen_at did not move.
	checkTouched(t, live, []session.Touched{
		touched(a, base.Add(5*time.Second)), touched(b, base.Add(9*time.Second)), touched(c, base),
	})

	// Never backward, one at a time either.
	live, err = s.Touch(ctx, []session.Touch{{Hash: a.Hash, At: base.Add(time.Second)}}, base)
	if err != nil {
		t.Fatalf("Touch: %v", err)
	}
	checkSame(t, mustLookup(t, ctx, s, a.Hash), want(a, base.Add(5*time.Second)))
	checkTouched(t, live, []session.Touched{touched(a, base.Add(5*time.Second))})
	if _, err := s.Touch(ctx, []session.Touch{{Hash: a.Hash, At: base.Add(6 * time.Second)}}, base); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	checkSame(t, mustLookup(t, ctx, s, a.Hash), want(a, base.Add(6*time.Second)))

	// Live is judged at the now given: a is not live at its expiry.
	if live, err := s.Touch(ctx, []session.Touch{{Hash: a.Hash, At: base.Add(7 * time.Second)}}, a.Session.ExpiresAt); err != nil || len(live) != 0 {
		t.Fatalf("Touch at the session's expiry: %v, %v; want no live session", live, err)
	}

	// A revocation committed before the Touch: not live.
	if _, err := s.Revoke(ctx, b.Hash, base.Add(10*time.Second)); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if live, err := s.Touch(ctx, []session.Touch{{Hash: b.Hash, At: base.Add(11 * time.Second)}}, base); err != nil || len(live) != 0 {
		t.Fatalf("Touch after Revoke: %v, %v; want no live session", live, err)
	}

	// Only unknown hashes.
	if live, err := s.Touch(ctx, []session.Touch{{Hash: newHash(t), At: base}, {Hash: newHash(t), At: base}}, base); err != nil || len(live) != 0 {
		t.Fatalf("Touch(unknown hashes): %v, %v", live, err)
	}
	if live, err := s.Touch(ctx, []session.Touch{{Hash: newHash(t), At: base}}, base); err != nil || len(live) != 0 {
		t.Fatalf("Touch(one unknown hash): %v, %v", live, err)
	}
}

func touched(r session.Record, lastSeen time.Time) session.Touched {
	return session.Touched{Hash: r.Hash, LastSeenAt: lastSeen, ExpiresAt: r.Session.ExpiresAt, IdleTimeout: r.Session.IdleTimeout}
}

// checkTouched compares Touch's live sessions with want, in any order.
func checkTouched(t *testing.T, got, want []session.Touched) {
	t.Helper()
	key := func(x session.Touched) string {
		return fmt.Sprintf("%x last_seen=%s expires=%s idle=%s", x.Hash[:4], x.LastSeenAt.Format(time.RFC3339Nano), x.ExpiresAt.Format(time.RFC3339Nano), x.IdleTimeout)
	}
	var g, w []string
	for _, x := range got {
		g = append(g, key(x))
	}
	for _, x := range want {
		w = append(w, key(x))
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("Touch returned live sessions\n  %s\nwant\n  %s", strings.Join(g, "\n  "), strings.Join(w, "\n  "))
	}
}

func testTouchEmpty(t *testing.T, s session.Store) {
	ctx := ctxFor(t)
	if live, err := s.Touch(ctx, nil, now()); err != nil || live != nil {
		t.Fatalf("Touch(nil): %v, %v", live, err)
	}
	if live, err := s.Touch(ctx, []session.Touch{}, now()); err != nil || live != nil {
		t.Fatalf("Touch(empty): %v, %v", live, err)
	}
}

// touchLargeSessions is how many sessions testTouchLargeBatch names: more
// than a store is likely to put in one statement (SQLite binds a few
// parameters per session, up to 32 766 a statement; a store that splits a
// batch must keep the contract across its parts).
const touchLargeSessions = 1500

// testTouchLargeBatch: one batch naming many sessions, each twice in
// shuffled order (the later At wins, wherever the two fall), with
// unknown hashes, revoked and expired sessions (written, not returned)
// and sessions already seen after both entries (not moved, returned).
func testTouchLargeBatch(t *testing.T, s session.Store) {
	ctx := ctxFor(t)
	base := now()
	user := newUser()
	type kind int
	const (
		moved kind = iota
		ahead      // last_seen_at already past both entries
		revoked
		expired
	)
	recs := make([]session.Record, touchLargeSessions)
	kinds := make([]kind, len(recs))
	var ts []session.Touch
	for i := range recs {
		kinds[i] = []kind{moved, moved, moved, ahead, revoked, expired}[i%6]
		r := newRecord(t, user, base)
		switch kinds[i] {
		case ahead:
			r.Session.LastSeenAt = base.Add(time.Minute)
		case revoked:
			r.Session.RevokedAt = ptr(base)
		case expired:
			r = newRecord(t, user, base.Add(-2*time.Hour))
		}
		recs[i] = r
		mustCreate(t, ctx, s, r)
		at := base.Add(time.Duration(i%50+1) * time.Second)
		ts = append(ts, session.Touch{Hash: r.Hash, At: at}, session.Touch{Hash: r.Hash, At: at.Add(-time.Second)})
		if i%100 == 0 {
			ts = append(ts, session.Touch{Hash: newHash(t), At: at})
		}
	}
	mrand.Shuffle(len(ts), func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })

	live, err := s.Touch(ctx, ts, base)
	if err != nil {
		t.Fatalf("Touch of %d entries: %v", len(ts), err)
	}
	var want []session.Touched
	for i, r := range recs {
		latest := base.Add(time.Duration(i%50+1) * time.Second)
		w := r.Session
		switch kinds[i] {
		case moved, revoked, expired:
			w.LastSeenAt = latest
		}
		checkSame(t, mustLookup(t, ctx, s, r.Hash), w)
		if kinds[i] == moved || kinds[i] == ahead {
			want = append(want, touched(r, w.LastSeenAt))
		}
	}
	checkTouched(t, live, want)
}

// testConcurrent runs creates, lookups, overlapping touch batches (in
// shuffled orders, to catch lock-order deadlocks) and revocations from many
// goroutines, then checks the final state. Run it with -race. It is one
// long function because the goroutines and the final checks share the
// state they record, and a race test reads best in one place.
func testConcurrent(t *testing.T, s session.Store) {
	ctx := ctxFor(t)
	const (
		workers   = 8
		perWorker = 20
	)
	base := now()
	shared := make([]session.Record, 10)
	sharedUser := newUser()
	for i := range shared {
		shared[i] = newRecord(t, sharedUser, base)
		mustCreate(t, ctx, s, shared[i])
	}

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		maxTouch = map[session.TokenHash]time.Time{}
		created  = make([][]session.Record, workers)
		errs     = make(chan error, workers*4)
	)
	noteTouch := func(ts []session.Touch) {
		mu.Lock()
		defer mu.Unlock()
		for _, x := range ts {
			if x.At.After(maxTouch[x.Hash]) {
				maxTouch[x.Hash] = x.At
			}
		}
	}
	start := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rng := mrand.New(mrand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			user := newUser()
			for i := range perWorker {
				rec := newRecord(t, user, base)
				rec.Session.Metadata = map[string]string{"worker": fmt.Sprint(w), "i": fmt.Sprint(i)}
				if err := s.Create(ctx, rec); err != nil {
					errs <- fmt.Errorf("worker %d: Create: %w", w, err)
					return
				}
				created[w] = append(created[w], rec)

				got, err := s.Lookup(ctx, rec.Hash)
				if err != nil {
					errs <- fmt.Errorf("worker %d: Lookup own: %w", w, err)
					return
				}
				if got.ID != rec.Session.ID || got.Metadata["i"] != fmt.Sprint(i) {
					errs <- fmt.Errorf("worker %d: Lookup returned session %s, want %s", w, got.ID, rec.Session.ID)
					return
				}
				if _, err := s.Lookup(ctx, shared[rng.IntN(len(shared))].Hash); err != nil {
					errs <- fmt.Errorf("worker %d: Lookup shared: %w", w, err)
					return
				}

				// A batch over the shared sessions in a random order, plus
				// this worker's own, plus an unknown hash.
				batch := []session.Touch{{Hash: rec.Hash, At: base.Add(time.Duration(i+1) * time.Millisecond)}}
				for _, j := range rng.Perm(len(shared)) {
					batch = append(batch, session.Touch{Hash: shared[j].Hash, At: base.Add(time.Duration(rng.IntN(100_000)) * time.Millisecond)})
				}
				batch = append(batch, session.Touch{Hash: newHash(t), At: base})
				rng.Shuffle(len(batch), func(a, b int) { batch[a], batch[b] = batch[b], batch[a] })
				if _, err := s.Touch(ctx, batch, now()); err != nil {
					errs <- fmt.Errorf("worker %d: Touch: %w", w, err)
					return
				}
				noteTouch(batch)
			}
		}()
	}
	// Revocations of a user whose sessions are being touched, concurrently.
	victimUser := newUser()
	victims := make([]session.Record, 10)
	for i := range victims {
		victims[i] = newRecord(t, victimUser, base)
		mustCreate(t, ctx, s, victims[i])
	}
	revoked := make(chan []session.Revocation, 4)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var ts []session.Touch
			for _, v := range victims {
				ts = append(ts, session.Touch{Hash: v.Hash, At: base.Add(time.Second)})
			}
			if r%2 == 0 {
				slices.Reverse(ts)
			}
			if _, err := s.Touch(ctx, ts, now()); err != nil {
				errs <- fmt.Errorf("victim Touch: %w", err)
			}
			revs, err := s.RevokeUser(ctx, victimUser, base.Add(time.Duration(r+1)*time.Second))
			if err != nil {
				errs <- fmt.Errorf("RevokeUser: %w", err)
			}
			revoked <- revs
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	close(revoked)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	// Each victim was revoked by exactly one RevokeUser call.
	seen := map[string]int{}
	for revs := range revoked {
		for _, r := range revs {
			seen[r.SessionID]++
		}
	}
	for _, v := range victims {
		if n := seen[v.Session.ID]; n != 1 {
			t.Errorf("victim %s revoked by %d RevokeUser calls, want 1", v.Session.ID, n)
		}
		if got := mustLookup(t, ctx, s, v.Hash); got.RevokedAt == nil {
			t.Errorf("victim %s not revoked", v.Session.ID)
		}
	}

	// last_seen_at is the latest touch (or creation) of each session.
	check := func(r session.Record) {
		got := mustLookup(t, ctx, s, r.Hash)
		want := r.Session.LastSeenAt
		if m := maxTouch[r.Hash]; m.After(want) {
			want = m
		}
		if !got.LastSeenAt.Equal(want) {
			t.Errorf("session %s LastSeenAt = %v, want %v", r.Session.ID, got.LastSeenAt, want)
		}
	}
	for _, r := range shared {
		check(r)
	}
	n := 0
	for _, recs := range created {
		for _, r := range recs {
			check(r)
			n++
		}
	}
	if n != workers*perWorker {
		t.Errorf("created %d sessions, want %d", n, workers*perWorker)
	}
}

func testCanceledContext(t *testing.T, s session.Store) {
	ctx := ctxFor(t)
	rec := newRecord(t, newUser(), now())
	mustCreate(t, ctx, s, rec)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Lookup(canceled, rec.Hash); err == nil || errors.Is(err, session.ErrNotFound) {
		t.Errorf("Lookup with a canceled context: error = %v, want a context error", err)
	}
	if err := s.Create(canceled, newRecord(t, newUser(), now())); err == nil {
		t.Error("Create with a canceled context succeeded")
	}
	if err := s.CreateBatch(canceled, newBatch(t, newUser(), now(), 3)); err == nil {
		t.Error("CreateBatch with a canceled context succeeded")
	}
	// The store still works afterwards.
	mustLookup(t, ctx, s, rec.Hash)
}

// testTokenTags: the key is there, the same at every call, also
// concurrent ones; the sessions Create stores carry a tag, so they never
// reach LegacyUntil.
func testTokenTags(t *testing.T, s session.Store) {
	ctx := ctxFor(t)
	first, err := s.TokenTags(ctx)
	if err != nil {
		t.Fatalf("TokenTags: %v", err)
	}
	if first.Key == (session.TokenKey{}) {
		t.Fatal("TokenTags returned the zero key")
	}
	keys := make([]session.TokenKey, 8)
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			var tt session.TokenTags
			tt, errs[i] = s.TokenTags(ctx)
			keys[i] = tt.Key
		})
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil {
			t.Fatalf("concurrent TokenTags: %v", errs[i])
		}
		if keys[i] != first.Key {
			t.Fatal("concurrent TokenTags calls returned different keys")
		}
	}
	// Far later than any other session of a shared database expires.
	rec := newRecord(t, newUser(), now())
	rec.Session.ExpiresAt = now().Add(time.Duration(1000+mrand.IntN(1000)) * 24 * time.Hour)
	mustCreate(t, ctx, s, rec)
	after, err := s.TokenTags(ctx)
	if err != nil {
		t.Fatalf("TokenTags after Create: %v", err)
	}
	if after.Key != first.Key {
		t.Fatal("the key changed")
	}
	if !after.LegacyUntil.Before(rec.Session.ExpiresAt) {
		t.Fatalf("LegacyUntil %v counts a session Create stored (expiring %v)", after.LegacyUntil, rec.Session.ExpiresAt)
	}
}

// RunShared runs the checks of what Stores opened on one database share:
// the token key. fresh is called once per subtest and returns, for a new
// empty database, a function that opens a Store on it; the suite calls
// that function several times at once, as processes starting together
// would, and closes the Stores it opens.
func RunShared(t *testing.T, fresh func(t *testing.T) func(ctx context.Context) (session.Store, error)) {
	t.Helper()
	t.Run("TokenKeyOpenedTogether", func(t *testing.T) {
		open := fresh(t)
		ctx := ctxFor(t)
		// Each reads the key as soon as it is open, as a Service starting
		// on it does, while the others may still be opening.
		stores := make([]session.Store, 4)
		tags := make([]session.TokenTags, len(stores))
		errs := make([]error, len(stores))
		var wg sync.WaitGroup
		for i := range stores {
			wg.Go(func() {
				if stores[i], errs[i] = open(ctx); errs[i] == nil {
					tags[i], errs[i] = stores[i].TokenTags(ctx)
				}
			})
		}
		wg.Wait()
		for i, s := range stores {
			if s != nil {
				t.Cleanup(func() { s.Close() })
			}
			if errs[i] != nil {
				t.Fatalf("open and TokenTags %d: %v", i, errs[i])
			}
		}
		var key session.TokenKey
		for i, tt := range tags {
			if !tt.LegacyUntil.IsZero() {
				t.Errorf("store %d: LegacyUntil %v on a new database, want zero", i, tt.LegacyUntil)
			}
			switch {
			case tt.Key == (session.TokenKey{}):
				t.Fatalf("store %d: the zero key", i)
			case i == 0:
				key = tt.Key
			case tt.Key != key:
				t.Fatalf("stores opened together on one new database read different keys (store %d)", i)
			}
		}
		for i, s := range stores {
			if tt, err := s.TokenTags(ctx); err != nil || tt.Key != key {
				t.Fatalf("store %d, once all are open: TokenTags = same key %v, %v", i, tt.Key == key, err)
			}
		}
		// One opened later reads the same key.
		s, err := open(ctx)
		if err != nil {
			t.Fatalf("open again: %v", err)
		}
		defer s.Close()
		if tt, err := s.TokenTags(ctx); err != nil || tt.Key != key {
			t.Fatalf("a store opened later: TokenTags = same key %v, %v", tt.Key == key, err)
		}
	})
}

func testPing(t *testing.T, s session.Store) {
	if err := s.Ping(ctxFor(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testClose(t *testing.T, s session.Store) {
	ctx := ctxFor(t)
	rec := newRecord(t, newUser(), now())
	mustCreate(t, ctx, s, rec)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}
	if _, err := s.Lookup(ctx, rec.Hash); err == nil {
		t.Error("Lookup after Close succeeded")
	}
}

// Helpers for implementations' own tests.

// NewRecord returns a live session record for user with a fresh token hash,
// created and last seen at base (which should be UTC at millisecond
// precision) and expiring an hour later.
func NewRecord(t testing.TB, user string, base time.Time) session.Record {
	t.Helper()
	return newRecord(t, user, base)
}

// NewHash returns the SHA-256 of a fresh token.
func NewHash(t testing.TB) session.TokenHash {
	t.Helper()
	return newHash(t)
}
