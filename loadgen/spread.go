package loadgen

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
)

// workerKey is the context key of a worker's index (see WorkerOf).
type workerKey struct{}

// WorkerOf returns the index of the Run worker whose operation ctx
// belongs to (0 to Concurrency-1), or false for a context no worker made
// (the setup's creates, say). A Target may use it to keep each worker on
// one connection or one server.
func WorkerOf(ctx context.Context) (int, bool) {
	i, ok := ctx.Value(workerKey{}).(int)
	return i, ok
}

// Spread drives several targets as one, as a load balancer that spreads
// keep-alive connections round-robin over servers does: worker i sends
// every operation to Targets[i mod len(Targets)] (a worker of an HTTP
// target holds one connection), so with a Concurrency that is a multiple
// of len(Targets) each target gets as many workers, and a faster one
// serves more. Operations of no worker (the setup's creates) go round
// robin. Result.Shares gives each target's validations. Use it by
// pointer, with at least one target; it is safe for concurrent use.
type Spread struct {
	Targets []Target

	next atomic.Uint64
}

var _ Target = (*Spread)(nil)

// pick is the target of ctx's worker.
func (s *Spread) pick(ctx context.Context) Target {
	i, ok := WorkerOf(ctx)
	if !ok {
		i = int(s.next.Add(1) - 1)
	}
	return s.Targets[i%len(s.Targets)]
}

// targetOf is the index in Targets of worker i's target.
func (s *Spread) targetOf(worker int) int { return worker % len(s.Targets) }

// String names the targets, in order.
func (s *Spread) String() string {
	names := make([]string, len(s.Targets))
	for i, t := range s.Targets {
		names[i] = targetName(t)
	}
	return fmt.Sprintf("spread over %d: %s", len(s.Targets), strings.Join(names, ", "))
}

// Validate validates on the worker's target.
func (s *Spread) Validate(ctx context.Context, token string) error {
	return s.pick(ctx).Validate(ctx, token)
}

// Create creates on the worker's target.
func (s *Spread) Create(ctx context.Context) (string, error) { return s.pick(ctx).Create(ctx) }

// Revoke revokes on the worker's target.
func (s *Spread) Revoke(ctx context.Context, token string) error {
	return s.pick(ctx).Revoke(ctx, token)
}

// targetName is how results name t: its String, else its type.
func targetName(t Target) string {
	if s, ok := t.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", t)
}
