package server_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/studiohq/studio/internal/server"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/session/sqlstore"
)

// hangingStore is the real store whose writes and lookups, while hang is
// set, wait until their context ends, as on a link that passes no bytes.
type hangingStore struct {
	*sqlstore.Store
	hang atomic.Bool
}

func (s *hangingStore) wait(ctx context.Context) error {
	if !s.hang.Load() {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *hangingStore) Create(ctx context.Context, r session.Record) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.Store.Create(ctx, r)
}

func (s *hangingStore) Lookup(ctx context.Context, h session.TokenHash) (session.Session, error) {
	if err := s.wait(ctx); err != nil {
		return session.Session{}, err
	}
	return s.Store.Lookup(ctx, h)
}

func (s *hangingStore) Revoke(ctx context.Context, h session.TokenHash, at time.Time) (session.Session, error) {
	if err := s.wait(ctx); err != nil {
		return session.Session{}, err
	}
	return s.Store.Revoke(ctx, h, at)
}

func (s *hangingStore) RevokeUser(ctx context.Context, user string, at time.Time) ([]session.Revocation, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	return s.Store.RevokeUser(ctx, user, at)
}

// TestStoreTimeoutAnswers503: a store that does not answer within the
// Service's StoreTimeout gets every write a 503 store_unavailable within
// that time, saying what the caller must assume: nothing changed for a
// create, a logout that may not have been recorded (never a 204), sessions
// that may not have been revoked. A validation the store must answer gets
// a 503 too; one cached in the L1 is still answered.
func TestStoreTimeoutAnswers503(t *testing.T) {
	f := newFixture(t, admin)
	st := &hangingStore{Store: f.store}
	log := slog.New(slog.NewJSONHandler(f.logs, nil))
	svc, err := session.NewService(session.Options{Store: st, Redis: f.rdb, StoreTimeout: 200 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	ts := httptest.NewServer(server.New(server.Options{Sessions: svc, AdminToken: admin, Logger: log}))
	t.Cleanup(ts.Close)
	f.url = ts.URL
	tok := f.do("POST", "/v1/sessions", "Bearer "+admin, `{"user_id":"u"}`).body["token"].(string)
	uncached, _ := svc.NewToken()
	if r := f.do("GET", "/v1/session", "Bearer "+tok, ""); r.status != 200 {
		t.Fatalf("validate: %d %s", r.status, r.raw)
	}

	st.hang.Store(true)
	for _, tc := range []struct {
		name, method, path, auth, body string
		say                            string
	}{
		{"create", "POST", "/v1/sessions", admin, `{"user_id":"u"}`, "the session store did not answer in time; nothing was changed"},
		{"logout", "DELETE", "/v1/session", tok, "", "the session store did not answer in time; the logout may not have been recorded; retry"},
		{"revoke user", "DELETE", "/v1/users/u/sessions", admin, "", "the session store did not answer in time; the sessions may not have been revoked; retry"},
		{"validate from the store", "GET", "/v1/session", uncached.Reveal(), "", "the session store did not answer in time; try again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := f.do(tc.method, tc.path, "Bearer "+tc.auth, tc.body)
			took := time.Since(start)
			e, _ := r.body["error"].(map[string]any)
			if r.status != 503 || r.errCode() != "store_unavailable" || e["message"] != tc.say {
				t.Fatalf("%d %s; want 503 store_unavailable %q", r.status, r.raw, tc.say)
			}
			if took > 2*time.Second {
				t.Errorf("answered after %s; the store timeout is 200ms", took)
			}
		})
	}
	// The logout that failed is not taken as done: the session is still
	// live in the store, so it validates (from the store: this instance
	// no longer trusts its copies) once the store answers again.
	st.hang.Store(false)
	if r := f.do("GET", "/v1/session", "Bearer "+tok, ""); r.status != 200 {
		t.Fatalf("the session whose logout failed: %d %s", r.status, r.raw)
	}
	if !strings.Contains(f.logs.String(), "session store unavailable") {
		t.Errorf("no log line for the store failures:\n%s", f.logs)
	}
}
