package redisconn

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// AvailabilityObserver is told, for every command Open's client sends,
// when it ended and whether the server answered it: what the client
// itself saw of the master's availability (ha.Outages turns it into the
// write gap of a failover). It must be fast and must not block.
type AvailabilityObserver interface {
	ObserveAvailability(end time.Time, answered bool)
}

// unavailableReplies are the error replies by which a server says it
// cannot take commands now, rather than that a command was wrong: a
// replica refusing writes (READONLY, e.g. an old master demoted by a
// failover), a master without enough replicas (NOREPLICAS), a replica cut
// off from its master (MASTERDOWN), a server loading its data (LOADING) or
// busy in a script (BUSY), a cluster without its slots (CLUSTERDOWN).
var unavailableReplies = []string{"READONLY ", "NOREPLICAS ", "MASTERDOWN ", "LOADING ", "BUSY ", "CLUSTERDOWN "}

// Answered classifies a command's error for availability. answered is
// true when the server answered: no error, a miss (redis.Nil), or an error
// reply about the command itself (WRONGTYPE, a script error, …). It is
// false for a network error, a timeout, a refusal by the circuit breaker
// and the error replies of a server that cannot take commands now
// (READONLY, NOREPLICAS, MASTERDOWN, LOADING, BUSY, CLUSTERDOWN). known is
// false only for a command its caller cancelled, which says nothing about
// the server.
func Answered(err error) (answered, known bool) {
	switch {
	case err == nil, errors.Is(err, redis.Nil):
		return true, true
	case errors.Is(err, context.Canceled):
		return false, false
	}
	switch Outcome(err) {
	case "error_reply":
		msg := err.Error() + " "
		for _, p := range unavailableReplies {
			if strings.HasPrefix(msg, p) {
				return false, true
			}
		}
		return true, true
	}
	return false, true
}

// availabilityHook tells an AvailabilityObserver how each command ended.
// The handshake go-redis sends on a new connection is not told: the
// command that needed the connection is.
type availabilityHook struct{ obs AvailabilityObserver }

var _ redis.Hook = availabilityHook{}

// DialHook implements redis.Hook.
func (h availabilityHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (h availabilityHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isHandshake(cmd) {
			return next(ctx, cmd)
		}
		err := next(ctx, cmd)
		h.observe(err)
		return err
	}
}

// ProcessPipelineHook implements redis.Hook; a pipeline counts as one
// command.
func (h availabilityHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && isHandshake(cmds[0]) {
			return next(ctx, cmds)
		}
		err := next(ctx, cmds)
		h.observe(err)
		return err
	}
}

func (h availabilityHook) observe(err error) {
	if answered, known := Answered(err); known {
		h.obs.ObserveAvailability(time.Now(), answered)
	}
}
