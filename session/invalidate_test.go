package session_test

import (
	"testing"
	"time"

	"github.com/studiohq/studio/session"
)

func TestSubscriptionDropFlushesL1(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	tok, _ := e.create(svc, session.CreateParams{})
	svc.Validate(bg, tok)
	if _, tier, _ := svc.ValidateTier(bg, tok); tier != session.TierL1 {
		t.Fatalf("tier %v, want l1", tier)
	}
	flushes := svc.Stats().L1Flushes
	if err := e.rdb.Do(bg, "client", "kill", "type", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "L1 flushed and resubscribed", func() bool {
		return svc.Stats().L1Flushes >= flushes+2 && svc.Subscribed()
	})
	if _, tier, err := svc.ValidateTier(bg, tok); err != nil || tier != session.TierRedis {
		t.Fatalf("after resubscribe: tier %v err %v, want a redis hit", tier, err)
	}
}
