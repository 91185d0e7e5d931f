package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/studiohq/studio/client"
)

// No raw token reaches an error's text, whatever the failure.
func TestTokensNeverInErrors(t *testing.T) {
	srv := studio(t)
	tok := newSession(t, srv.URL, 0)
	slow := newFaultProxy(t, srv.URL)
	slow.delay.Store(int64(2 * client.DefaultTimeout))
	for _, base := range []string{srv.URL, "http://" + closedPort(t), slow.URL} {
		c := newClient(t, base, client.WithAdminToken(adminToken), client.WithRetry(client.RetryPolicy{Attempts: 1}), client.WithTimeout(100*time.Millisecond))
		var errs []error
		_, err := c.Validate(t.Context(), tok+"x")
		errs = append(errs, err)
		_, err = c.Validate(t.Context(), "stu_"+strings.Repeat("A", 49))
		errs = append(errs, err)
		errs = append(errs, c.Revoke(t.Context(), tok+"x"))
		_, err = c.RevokeUser(t.Context(), "nobody")
		errs = append(errs, err)
		for _, err := range errs {
			var e *client.Error
			if err == nil || !errors.As(err, &e) {
				if base != srv.URL {
					t.Fatalf("%s: %v, want an *Error", base, err)
				}
				continue
			}
			text := fmt.Sprintf("%v %+v %#v", err, err, e)
			if strings.Contains(text, tok) || strings.Contains(text, adminToken) {
				t.Fatalf("a token in %q", text)
			}
		}
	}
}

// The caller's context bounds the whole call, retries included.
func TestRetryHonoursContext(t *testing.T) {
	srv := studio(t)
	tok := newSession(t, srv.URL, 0)
	slow := newFaultProxy(t, srv.URL)
	slow.delay.Store(int64(time.Second))
	c := newClient(t, slow.URL, client.WithTimeout(300*time.Millisecond),
		client.WithRetry(client.RetryPolicy{Attempts: 10, BaseDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond}))
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Validate(ctx, tok)
	took := time.Since(start)
	if !errors.Is(err, client.ErrTimeout) || !errors.Is(err, client.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a timeout", err)
	}
	if n := slow.requests.Load(); n < 2 || n > 3 || took > 2*time.Second {
		t.Fatalf("%d attempts in %v; want 2 (at 0 and ~310 ms) before the 500 ms deadline", n, took)
	}
	t.Logf("gave up after %v and %d attempts", took, slow.requests.Load())
}

// A wrong admin token over Studio's budget is answered 429
// too_many_attempts: that is still a wrong token (ErrForbidden), and the
// client sends it once, not again on a retry that would spend the budget.
func TestWrongAdminTokenOverBudgetIsForbidden(t *testing.T) {
	srv := studio(t)
	counted := newFaultProxy(t, srv.URL)
	c := newClient(t, counted.URL, client.WithAdminToken("not-the-admin-token-at-all"))
	const calls = 12 // Studio's budget is 10 wrong tokens a minute per client
	var throttled bool
	for i := range calls {
		_, err := c.RevokeUser(t.Context(), "intruder")
		var e *client.Error
		if !errors.Is(err, client.ErrForbidden) || !errors.As(err, &e) {
			t.Fatalf("call %d: %v, want ErrForbidden", i+1, err)
		}
		throttled = throttled || e.Status == 429
	}
	if !throttled {
		t.Fatalf("no call was answered 429 in %d wrong tokens; Studio's budget changed and this test no longer reaches it", calls)
	}
	if n := counted.requests.Load(); n != calls {
		t.Fatalf("%d requests reached Studio for %d calls: a throttled wrong token was retried", n, calls)
	}
}
