package redisconn_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/redistest"
	"github.com/studiohq/studio/redisconn"
)

// availLog records what an AvailabilityObserver is told.
type availLog struct {
	mu  sync.Mutex
	got []bool
	at  []time.Time
}

func (a *availLog) ObserveAvailability(end time.Time, answered bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got, a.at = append(a.got, answered), append(a.at, end)
}

// take returns what was told since the last take.
func (a *availLog) take() []bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	got := a.got
	a.got, a.at = nil, nil
	return got
}

// replyError is an error reply as go-redis returns one.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

func TestAnswered(t *testing.T) {
	for _, tc := range []struct {
		err             error
		answered, known bool
	}{
		{nil, true, true},
		{redis.Nil, true, true},
		{replyError("WRONGTYPE Operation against a key holding the wrong kind of value"), true, true},
		{replyError("ERR unknown command 'NOSUCHCOMMAND'"), true, true},
		{replyError("NOSCRIPT No matching script"), true, true},
		{replyError("READONLY You can't write against a read only replica."), false, true},
		{replyError("NOREPLICAS Not enough good replicas to write."), false, true},
		{replyError("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), false, true},
		{replyError("LOADING Redis is loading the dataset in memory"), false, true},
		{replyError("BUSY Redis is busy running a script."), false, true},
		{replyError("CLUSTERDOWN The cluster is down"), false, true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, false, true},
		{fmt.Errorf("read: %w", os.ErrDeadlineExceeded), false, true},
		{context.DeadlineExceeded, false, true},
		{redisconn.ErrCircuitOpen, false, true},
		{context.Canceled, false, false},
		{fmt.Errorf("get: %w", context.Canceled), false, false},
	} {
		answered, known := redisconn.Answered(tc.err)
		if answered != tc.answered || known != tc.known {
			t.Errorf("Answered(%v) = %v, %v; want %v, %v", tc.err, answered, known, tc.answered, tc.known)
		}
	}
}

// The observer of Open's client hears every command once, when it ended:
// answers (a miss and an error reply about the command included), a
// replica refusing a write, a dead server and the breaker's refusals; not
// the commands their callers cancelled.
func TestAvailabilityObserver(t *testing.T) {
	primary, replica := redistest.Start(t), redistest.Start(t)
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: replica.Addr()})
	defer admin.Close()
	host, port, _ := net.SplitHostPort(primary.Addr())
	if err := admin.Do(ctx, "REPLICAOF", host, port).Err(); err != nil {
		t.Fatal(err)
	}

	obs := &availLog{}
	br := redisconn.NewBreaker(redisconn.BreakerOptions{FailureThreshold: 2, OpenTimeout: time.Minute})
	rdb, err := redisconn.Open(redisconn.Config{URL: primary.URL(), Availability: obs, Breaker: br})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	before := time.Now()
	rdb.Set(ctx, "k", "v", 0)
	rdb.Get(ctx, "missing")
	rdb.Do(ctx, "NOSUCHCOMMAND")
	rdb.Pipelined(ctx, func(p redis.Pipeliner) error { p.Get(ctx, "a"); p.Set(ctx, "b", "1", 0); return nil })
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	rdb.Get(cancelled, "k")
	if got := obs.take(); fmt.Sprint(got) != "[true true true true]" {
		t.Errorf("told %v for a set, a miss, an unknown command and a pipeline; want four answers", got)
	}

	onReplica, err := redisconn.Open(redisconn.Config{URL: replica.URL(), Availability: obs})
	if err != nil {
		t.Fatal(err)
	}
	defer onReplica.Close()
	if err := onReplica.Set(ctx, "k", "v", 0).Err(); err == nil {
		t.Fatal("a replica took a write")
	}
	onReplica.Get(ctx, "k")
	if got := obs.take(); fmt.Sprint(got) != "[false true]" {
		t.Errorf("told %v for a write and a read on a replica; want a failure (READONLY) and an answer", got)
	}

	if err := primary.Kill(); err != nil {
		t.Fatal(err)
	}
	for range 3 { // two network errors open the breaker; it refuses the third
		rdb.Get(ctx, "k")
	}
	if br.State() != "open" {
		t.Fatalf("breaker %s, want open", br.State())
	}
	obs.mu.Lock()
	last := obs.at[len(obs.at)-1]
	obs.mu.Unlock()
	if got := obs.take(); fmt.Sprint(got) != "[false false false]" {
		t.Errorf("told %v with the server dead; want three failures (the breaker's refusal too)", got)
	}
	if last.Before(before) || last.After(time.Now()) {
		t.Errorf("end time %v is not when the command ended", last)
	}
}
