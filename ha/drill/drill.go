// Package drill runs a failover drill against a Redis Sentinel deployment:
// it keeps a write and validate workload running, injects a fault into the
// master, and measures what the failover cost: how long writes were
// unavailable, what callers saw, whether any acknowledged write was lost,
// and how long the Sentinels took to notice and to switch.
//
// The workload has two parts. Raw writers SET uniquely numbered keys
// (studio:drill:<run>:<n>) through the failover client and remember every
// acknowledged one; after recovery each is read back from the new master,
// so a write acknowledged by a master that then lost it is counted. The
// session workload creates sessions and validates a pool of them through
// the session layer, which is what Studio's callers see: validation should
// never fail, because it falls back to the local cache and the store.
//
// Faults on local nodes find the process by INFO's process_id and refuse
// any address that is not loopback; `sentinel-failover` works anywhere.
package drill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/internal/sleep"
	"github.com/studiohq/studio/session"
)

// Fault is how the drill breaks the master.
type Fault string

// The faults a drill can inject.
const (
	// FaultKill sends SIGKILL to the master's process (local nodes only).
	FaultKill Fault = "kill"
	// FaultFreeze sends SIGSTOP to the master and to one Sentinel, so
	// connections to them hang rather than reset, and SIGCONT once the
	// failover is over (local nodes only).
	FaultFreeze Fault = "freeze"
	// FaultSentinelFailover asks a Sentinel for a failover (SENTINEL
	// FAILOVER); for nodes that are not local.
	FaultSentinelFailover Fault = "sentinel-failover"
)

// ParseFault returns the Fault named s.
func ParseFault(s string) (Fault, error) {
	switch f := Fault(s); f {
	case FaultKill, FaultFreeze, FaultSentinelFailover:
		return f, nil
	}
	return "", fmt.Errorf("unknown fault %q: want kill, freeze or sentinel-failover", s)
}

// Sessions is the session layer the drill's callers use.
type Sessions interface {
	Create(ctx context.Context, p session.CreateParams) (session.Token, session.Session, error)
	Validate(ctx context.Context, token string) (session.Session, error)
	// RevokeUser removes the drill's own sessions at the end (they belong
	// to the user "drill-<run>").
	RevokeUser(ctx context.Context, userID string) (int, error)
}

// Options configure a drill. Sentinels, MasterName, Redis and Sessions
// are required.
type Options struct {
	Sentinels  []string
	MasterName string
	// Redis is the failover client the raw writers use (normally the same
	// kind of client Sessions uses). The drill does not close it.
	Redis redis.UniversalClient
	// Sessions is the session layer under test.
	Sessions Sessions
	// NewSentinelClient and NewNodeClient make clients for single
	// Sentinels and data nodes (TLS, timeouts); nil: plain clients with
	// 500 ms dial and 300 ms read/write timeouts. The drill closes them.
	NewSentinelClient func(addr string) *redis.SentinelClient
	NewNodeClient     func(addr string) *redis.Client

	Fault Fault // default FaultKill
	// Restart, if set, brings a killed node back (FaultKill); otherwise the
	// drill waits up to RejoinTimeout for something else (a supervisor) to.
	Restart func(ctx context.Context, addr string) error

	// Warmup is how long the workload runs before the fault (default 2s);
	// Settle how long it runs after the new master takes writes (default
	// 2s); RecoveryTimeout bounds the wait for recovery (default 30s) and
	// RejoinTimeout the wait for the old master to rejoin as a replica
	// (default 30s).
	Warmup, Settle, RecoveryTimeout, RejoinTimeout time.Duration
	// Writers raw write loops (default 4), each writing every
	// WriteInterval (default 5ms); Validators validate loops (default 4);
	// one create every CreateInterval (default 20ms); Pool sessions are
	// created before the drill and validated at random (default 200).
	Writers        int
	WriteInterval  time.Duration
	Validators     int
	CreateInterval time.Duration
	Pool           int

	Logger *slog.Logger
}

func (o *Options) defaults() error {
	if len(o.Sentinels) == 0 || o.MasterName == "" {
		return errors.New("drill: needs Sentinel addresses and a master name (REDIS_SENTINELS, REDIS_MASTER_NAME)")
	}
	if o.Redis == nil || o.Sessions == nil {
		return errors.New("drill: Options.Redis and Options.Sessions are required")
	}
	if o.Fault == "" {
		o.Fault = FaultKill
	}
	if _, err := ParseFault(string(o.Fault)); err != nil {
		return err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Warmup, 2*time.Second)
	def(&o.Settle, 2*time.Second)
	def(&o.RecoveryTimeout, 30*time.Second)
	def(&o.RejoinTimeout, 30*time.Second)
	def(&o.WriteInterval, 5*time.Millisecond)
	def(&o.CreateInterval, 20*time.Millisecond)
	for _, n := range []*int{&o.Writers, &o.Validators} {
		if *n <= 0 {
			*n = 4
		}
	}
	if o.Pool <= 0 {
		o.Pool = 200
	}
	if o.NewSentinelClient == nil {
		o.NewSentinelClient = func(addr string) *redis.SentinelClient {
			return redis.NewSentinelClient(&redis.Options{Addr: addr, DisableIdentity: true, DialTimeout: 500 * time.Millisecond,
				ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, MaxRetries: -1})
		}
	}
	if o.NewNodeClient == nil {
		o.NewNodeClient = func(addr string) *redis.Client {
			return redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true, DialTimeout: 500 * time.Millisecond,
				ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, MaxRetries: -1})
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Report is what one drill measured. Durations are milliseconds from the
// fault's injection unless named otherwise; a negative value means the
// event was not seen.
type Report struct {
	Fault        Fault     `json:"fault"`
	Run          string    `json:"run"`
	MasterBefore string    `json:"master_before"`
	MasterAfter  string    `json:"master_after"`
	InjectedAt   time.Time `json:"injected_at"`
	// FrozenSentinel is the Sentinel stopped with the master (FaultFreeze).
	FrozenSentinel string `json:"frozen_sentinel,omitempty"`

	// Sentinel's view: first +sdown of the master (detection), first
	// +odown, and +switch-master.
	DetectedMS float64 `json:"detected_ms"`
	OdownMS    float64 `json:"odown_ms"`
	SwitchedMS float64 `json:"switched_ms"`
	// AgreedMS is when the last Sentinel reported +switch-master: from
	// then on every Sentinel names the new master to clients.
	AgreedMS float64 `json:"agreed_ms"`
	// FirstWriteMS is the first write acknowledged by the new master.
	FirstWriteMS float64 `json:"first_write_ms"`
	// WriteUnavailableMS is the longest gap between two consecutive
	// acknowledged writes (all writers merged) from the injection until
	// the end: how long nothing could be written.
	WriteUnavailableMS float64 `json:"write_unavailable_ms"`

	WritesAcked  int64            `json:"writes_acked"`
	WritesFailed int64            `json:"writes_failed"`
	WritesLost   int64            `json:"writes_lost"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`

	Validations       int64            `json:"validations"`
	ValidationsFailed int64            `json:"validations_failed"`
	ValidationErrors  map[string]int64 `json:"validation_errors"`
	// ValidateP99MS is the 99th percentile validation latency during the
	// drill, as callers saw it.
	ValidateP99MS float64 `json:"validate_p99_ms"`
	CreatesAcked  int64   `json:"creates_acked"`
	CreatesFailed int64   `json:"creates_failed"`
	// CreatesLost counts acknowledged session creates whose token no
	// longer validates after recovery.
	CreatesLost int64 `json:"creates_lost"`

	Recovered bool `json:"recovered"`
	// Rejoined reports whether the old master came back as a replica of
	// the current master (normally the new one), RejoinedMS when.

	Rejoined   bool    `json:"rejoined"`
	RejoinedMS float64 `json:"rejoined_ms"`
}

// Run performs one drill. It returns an error when the drill could not be
// carried out (bad options, no master, a fault that cannot be injected, no
// recovery within RecoveryTimeout — with the partial report); the failover's
// own costs are in the Report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	sk, err := ddsketch.NewDefaultDDSketch(0.01)
	if err != nil {
		return nil, fmt.Errorf("drill: latency sketch: %w", err)
	}
	d := &drill{o: o, run: strconv.FormatInt(time.Now().UnixNano(), 36), sents: map[string]*redis.SentinelClient{}, valLatency: sk}
	defer d.close()
	return d.do(ctx)
}

type drill struct {
	o     Options
	run   string
	sents map[string]*redis.SentinelClient

	injected atomic.Int64 // unix nanoseconds; 0 before the fault

	mu          sync.Mutex
	acks        []int64 // completion times (unix ns) of acknowledged writes
	ackedKeys   []string
	errsByKind  map[string]int64
	valErrs     map[string]int64
	valLatency  *ddsketch.DDSketch // validation latency in µs, 1 % relative accuracy
	tokens      []string           // acknowledged creates
	writesFail  int64
	validations int64
	valFailed   int64
	createsFail int64

	events sentinelEvents
}

func (d *drill) close() {
	for _, c := range d.sents {
		_ = c.Close()
	}
}

func (d *drill) sentinel(addr string) *redis.SentinelClient {
	c, ok := d.sents[addr]
	if !ok {
		c = d.o.NewSentinelClient(addr)
		d.sents[addr] = c
	}
	return c
}

func (d *drill) do(ctx context.Context) (*Report, error) {
	o := d.o
	r := &Report{Fault: o.Fault, Run: d.run, DetectedMS: -1, OdownMS: -1, SwitchedMS: -1, AgreedMS: -1, FirstWriteMS: -1, RejoinedMS: -1}
	d.errsByKind, d.valErrs = map[string]int64{}, map[string]int64{}

	before, err := d.master(ctx)
	if err != nil {
		return nil, err
	}
	r.MasterBefore = before

	// Event subscriptions first, so the detection is not missed.
	evctx, stopEvents := context.WithCancel(ctx)
	var evwg sync.WaitGroup
	defer func() { stopEvents(); evwg.Wait() }()
	for _, addr := range o.Sentinels {
		evwg.Add(1)
		go func() { defer evwg.Done(); d.events.follow(evctx, d.o.NewSentinelClient(addr), o.MasterName) }()
	}

	// The drill's sessions go when it ends, whatever happens: it may run
	// against a production store.
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := o.Sessions.RevokeUser(cctx, "drill-"+d.run); err != nil {
			o.Logger.Warn("drill: could not remove the drill's sessions", "user", "drill-"+d.run, "error", err)
		}
	}()
	pool, err := d.createPool(ctx)
	if err != nil {
		return nil, err
	}

	wctx, stopWork := context.WithCancel(ctx)
	var wg sync.WaitGroup
	d.startWorkload(wctx, &wg, pool)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopWork()
			wg.Wait()
		}
	}
	defer stop()

	if !sleep.Ctx(ctx, o.Warmup) {
		return nil, ctx.Err()
	}
	resume, err := d.inject(ctx, before, r)
	if err != nil {
		return nil, err
	}
	defer resume() // never leave a process stopped; resume is idempotent
	injected := time.Now()
	r.InjectedAt = injected
	d.injected.Store(injected.UnixNano())
	o.Logger.Info("drill: fault injected", "fault", o.Fault, "master", before)

	if err := d.awaitRecovery(ctx, before, injected, r); err != nil {
		resume()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		stop()
		d.fill(r, injected)
		return r, err
	}
	r.Recovered = true
	o.Logger.Info("drill: new master takes writes", "master", r.MasterAfter)
	resume()
	if !sleep.Ctx(ctx, o.Settle) {
		return nil, ctx.Err()
	}
	stop()
	stopEvents()

	d.fill(r, injected)
	if err := d.countLost(ctx, r); err != nil {
		return r, err
	}
	if o.Fault == FaultKill && o.Restart != nil {
		if err := o.Restart(ctx, before); err != nil {
			return r, fmt.Errorf("drill: restart the old master %s: %w", before, err)
		}
	}
	d.waitRejoin(ctx, before, injected, r)
	return r, nil
}

// awaitRecovery waits until the Sentinels name a master other than before
// (recorded in r.MasterAfter) and a write after injected is acknowledged,
// for at most RecoveryTimeout; it returns ctx's error if ctx ends first.
func (d *drill) awaitRecovery(ctx context.Context, before string, injected time.Time, r *Report) error {
	deadline := injected.Add(d.o.RecoveryTimeout)
	for {
		if a, err := d.master(ctx); err == nil && a != before {
			r.MasterAfter = a
			if t := d.firstAckAfter(injected, true); t > 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("drill: no recovery within %s (master %q)", d.o.RecoveryTimeout, r.MasterAfter)
		}
		if !sleep.Ctx(ctx, 20*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// master asks the Sentinels for the master's address; the answer of the
// first Sentinel that replies wins.
func (d *drill) master(ctx context.Context) (string, error) {
	var errs []error
	for _, addr := range d.o.Sentinels {
		qctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		a, err := d.sentinel(addr).GetMasterAddrByName(qctx, d.o.MasterName).Result()
		cancel()
		if err == nil && len(a) == 2 {
			return net.JoinHostPort(a[0], a[1]), nil
		}
		errs = append(errs, fmt.Errorf("sentinel %s: %w", addr, err))
	}
	return "", fmt.Errorf("drill: no Sentinel names master %q: %w", d.o.MasterName, errors.Join(errs...))
}

func (d *drill) createPool(ctx context.Context) ([]string, error) {
	pool := make([]string, 0, d.o.Pool)
	for range d.o.Pool {
		tok, _, err := d.o.Sessions.Create(ctx, session.CreateParams{UserID: "drill-" + d.run, TTL: time.Hour})
		if err != nil {
			return nil, fmt.Errorf("drill: create the session pool: %w", err)
		}
		pool = append(pool, tok.Reveal())
	}
	return pool, nil
}

func (d *drill) startWorkload(ctx context.Context, wg *sync.WaitGroup, pool []string) {
	var seq atomic.Int64
	for range d.o.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(d.o.WriteInterval)
			defer t.Stop()
			for tick(ctx, t) {
				key := KeyPrefix + d.run + ":" + strconv.FormatInt(seq.Add(1), 10)
				err := d.o.Redis.Set(ctx, key, "1", 10*time.Minute).Err()
				done := time.Now().UnixNano()
				d.mu.Lock()
				if err == nil {
					d.acks = append(d.acks, done)
					d.ackedKeys = append(d.ackedKeys, key)
				} else if ctx.Err() == nil {
					d.writesFail++
					d.errsByKind[errorKind(err)]++
				}
				d.mu.Unlock()
			}
		}()
	}
	for range d.o.Validators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				tok := pool[rand.IntN(len(pool))]
				start := time.Now()
				_, err := d.o.Sessions.Validate(ctx, tok)
				el := time.Since(start)
				if ctx.Err() != nil {
					return
				}
				d.mu.Lock()
				d.validations++
				_ = d.valLatency.Add(float64(el.Microseconds()))
				if err != nil {
					d.valFailed++
					d.valErrs[errorKind(err)]++
				}
				d.mu.Unlock()
				time.Sleep(time.Millisecond) // keep the loop from owning a core
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d.o.CreateInterval)
		defer t.Stop()
		for tick(ctx, t) {
			tok, _, err := d.o.Sessions.Create(ctx, session.CreateParams{UserID: "drill-" + d.run, TTL: time.Hour})
			d.mu.Lock()
			if err == nil {
				d.tokens = append(d.tokens, tok.Reveal())
			} else if ctx.Err() == nil {
				d.createsFail++
			}
			d.mu.Unlock()
		}
	}()
}

// inject breaks the master and returns the function that undoes what can
// be undone (SIGCONT for a freeze).
func (d *drill) inject(ctx context.Context, master string, r *Report) (func(), error) {
	none := func() {}
	switch d.o.Fault {
	case FaultSentinelFailover:
		var errs []error
		for _, addr := range d.o.Sentinels {
			if err := d.sentinel(addr).Failover(ctx, d.o.MasterName).Err(); err == nil {
				return none, nil
			} else {
				errs = append(errs, fmt.Errorf("sentinel %s: %w", addr, err))
			}
		}
		return nil, fmt.Errorf("drill: SENTINEL FAILOVER refused: %w", errors.Join(errs...))
	case FaultKill:
		pid, err := d.localPID(ctx, master, false)
		if err != nil {
			return nil, err
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return nil, fmt.Errorf("drill: kill -9 master %s (pid %d): %w", master, pid, err)
		}
		return none, nil
	case FaultFreeze:
		mpid, err := d.localPID(ctx, master, false)
		if err != nil {
			return nil, err
		}
		sentinel := d.o.Sentinels[0]
		spid, err := d.localPID(ctx, sentinel, true)
		if err != nil {
			return nil, err
		}
		r.FrozenSentinel = sentinel
		if err := syscall.Kill(mpid, syscall.SIGSTOP); err != nil {
			return nil, fmt.Errorf("drill: SIGSTOP master %s (pid %d): %w", master, mpid, err)
		}
		if err := syscall.Kill(spid, syscall.SIGSTOP); err != nil {
			_ = syscall.Kill(mpid, syscall.SIGCONT)
			return nil, fmt.Errorf("drill: SIGSTOP sentinel %s (pid %d): %w", sentinel, spid, err)
		}
		var once sync.Once
		return func() {
			once.Do(func() {
				_ = syscall.Kill(mpid, syscall.SIGCONT)
				_ = syscall.Kill(spid, syscall.SIGCONT)
			})
		}, nil
	}
	return nil, fmt.Errorf("drill: unknown fault %q", d.o.Fault)
}

// localPID returns the process id of the Redis server or Sentinel at addr,
// refusing addresses that are not loopback (a PID means nothing across
// machines) and PIDs that are not a redis process here.
func (d *drill) localPID(ctx context.Context, addr string, sentinel bool) (int, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("drill: address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return 0, fmt.Errorf("drill: %s is not a local address: fault %q needs local nodes; use --fault sentinel-failover", addr, d.o.Fault)
	}
	qctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	cmd := redis.NewStringCmd(qctx, "info", "server")
	if sentinel {
		_ = d.sentinel(addr).Process(qctx, cmd)
	} else {
		c := d.o.NewNodeClient(addr)
		defer c.Close()
		_ = c.Process(qctx, cmd)
	}
	info, err := cmd.Result()
	if err != nil {
		return 0, fmt.Errorf("drill: INFO server from %s: %w", addr, err)
	}
	pid := 0
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid <= 0 {
		return 0, fmt.Errorf("drill: %s reported no process_id", addr)
	}
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil || !strings.HasPrefix(strings.TrimSpace(string(comm)), "redis") {
		return 0, fmt.Errorf("drill: process %d of %s is not a local redis process", pid, addr)
	}
	return pid, nil
}

// firstAckAfter returns the completion time of the first write acknowledged
// at or after t (with newMaster, only once a failed write was seen after t,
// i.e. the first write of the new master), or 0.
func (d *drill) firstAckAfter(t time.Time, newMaster bool) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	tn := t.UnixNano()
	if newMaster && d.o.Fault != FaultSentinelFailover && d.writesFail == 0 {
		return 0
	}
	for _, a := range d.acks {
		if a >= tn {
			return a
		}
	}
	return 0
}

// fill computes the report's workload figures.
func (d *drill) fill(r *Report, injected time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	in := injected.UnixNano()
	ms := func(t int64) float64 {
		if t <= 0 {
			return -1
		}
		return float64(t-in) / 1e6
	}
	r.DetectedMS = ms(d.events.first("+sdown", in))
	r.OdownMS = ms(d.events.first("+odown", in))
	r.SwitchedMS = ms(d.events.first("+switch-master", in))
	r.AgreedMS = ms(d.events.last("+switch-master", in))

	acks := slices.Clone(d.acks)
	slices.Sort(acks)
	// Longest gap between consecutive acknowledged writes, starting from
	// the last ack before the injection.
	i, _ := slices.BinarySearch(acks, in)
	prev := in
	if i > 0 {
		prev = acks[i-1]
	}
	var gap int64
	for _, a := range acks[i:] {
		gap = max(gap, a-prev)
		prev = a
	}
	r.WriteUnavailableMS = float64(gap) / 1e6
	// The new master's first write: the first ack after the last failure's
	// neighbourhood is hard to pin per writer; use the end of the longest
	// gap, which is where writes resumed.
	prev = in
	if i > 0 {
		prev = acks[i-1]
	}
	for _, a := range acks[i:] {
		if a-prev == gap {
			r.FirstWriteMS = ms(a)
			break
		}
		prev = a
	}

	r.WritesAcked = int64(len(d.acks))
	r.WritesFailed = d.writesFail
	r.ErrorsByKind = maps.Clone(d.errsByKind)
	r.Validations = d.validations
	r.ValidationsFailed = d.valFailed
	r.ValidationErrors = maps.Clone(d.valErrs)
	if d.valLatency.GetCount() > 0 {
		if p99, err := d.valLatency.GetValueAtQuantile(0.99); err == nil {
			r.ValidateP99MS = p99 / 1e3 // the sketch holds microseconds
		}
	}
	r.CreatesAcked = int64(len(d.tokens))
	r.CreatesFailed = d.createsFail
}

// countLost reads every acknowledged key back from the new master and
// validates every acknowledged create, then deletes the drill's keys.
func (d *drill) countLost(ctx context.Context, r *Report) error {
	d.mu.Lock()
	keys, tokens := slices.Clone(d.ackedKeys), slices.Clone(d.tokens)
	d.mu.Unlock()
	node := d.o.NewNodeClient(r.MasterAfter)
	defer node.Close()
	const batch = 500
	for start := 0; start < len(keys); start += batch {
		part := keys[start:min(len(keys), start+batch)]
		var n int64
		err := retry(ctx, func(ctx context.Context) error {
			var err error
			n, err = node.Exists(ctx, part...).Result()
			return err
		})
		if err != nil {
			return fmt.Errorf("drill: read back acknowledged writes from %s: %w", r.MasterAfter, err)
		}
		r.WritesLost += int64(len(part)) - n
		_ = node.Unlink(ctx, part...).Err()
	}
	for _, tok := range tokens {
		if _, err := d.o.Sessions.Validate(ctx, tok); err != nil {
			r.CreatesLost++
			d.o.Logger.Warn("drill: acknowledged session no longer validates", "error", err)
		}
	}
	return nil
}

// waitRejoin waits for the old master to report itself a replica, with
// its link up, of the master the Sentinels name now (normally the new
// master; another failover may have happened meanwhile).
func (d *drill) waitRejoin(ctx context.Context, old string, injected time.Time, r *Report) {
	c := d.o.NewNodeClient(old)
	defer c.Close()
	deadline := time.Now().Add(d.o.RejoinTimeout)
	for time.Now().Before(deadline) {
		current, err := d.master(ctx)
		if err == nil && current != old {
			host, port, _ := net.SplitHostPort(current)
			qctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			info, err := c.Info(qctx, "replication").Result()
			cancel()
			if err == nil && strings.Contains(info, "role:slave") &&
				strings.Contains(info, "master_host:"+host+"\r") && strings.Contains(info, "master_port:"+port+"\r") &&
				strings.Contains(info, "master_link_status:up") {
				r.Rejoined = true
				r.RejoinedMS = float64(time.Since(injected).Microseconds()) / 1e3
				return
			}
		}
		if !sleep.Ctx(ctx, 100*time.Millisecond) {
			return
		}
	}
}

func retry(ctx context.Context, f func(context.Context) error) error {
	var err error
	for range 20 {
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		err = f(qctx)
		cancel()
		if err == nil || !sleep.Ctx(ctx, 100*time.Millisecond) {
			return err
		}
	}
	return err
}

// errorKind names an error's cause for the report's tables.
func errorKind(err error) string {
	var ne net.Error
	msg := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED), strings.Contains(msg, "connection refused"):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), strings.Contains(msg, "connection reset"), strings.Contains(msg, "EOF"), strings.Contains(msg, "broken pipe"):
		return "connection reset"
	case strings.HasPrefix(msg, "READONLY"):
		return "readonly replica"
	case strings.HasPrefix(msg, "NOREPLICAS"):
		return "no replicas (min-replicas-to-write)"
	case strings.HasPrefix(msg, "LOADING"):
		return "loading"
	case strings.HasPrefix(msg, "MASTERDOWN"):
		return "master down"
	case strings.Contains(msg, "circuit"):
		return "circuit open"
	case strings.Contains(msg, "no master") || strings.Contains(msg, "all sentinels"):
		return "no master known"
	}
	return "other"
}

func tick(ctx context.Context, t *time.Ticker) bool {
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
