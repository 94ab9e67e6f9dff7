package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/internal/promreg"
	"github.com/attrib-engine/attrib/internal/rediskey"
)

// takeScript is Take in Lua, applied to the bucket KEYS[1] for ARGV[4]
// requests in a row (1 when absent), all at one time. ARGV: the interval
// in microseconds, the burst, the time in Unix microseconds or "" for the
// Redis server's clock (one clock for every API process), and the count.
// It answers one integer per request: the remaining tokens of an allowed
// one (0 or more), or minus the microseconds to wait of a refused one.
// Only allowed requests write: the new full time, expiring when the
// bucket is full again.
//
// redis.replicate_commands lets a script write after TIME on Redis 3.2 to
// 4 (replication by effects); from Redis 5 it is the default, and the
// call does nothing.
const takeScript = `
if redis.replicate_commands then redis.replicate_commands() end
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local n = tonumber(ARGV[4]) or 1
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local full = tonumber(redis.call('GET', KEYS[1])) or 0
local latest = now + interval * burst
local out = {}
local took = false
for i = 1, n do
  local nxt = math.max(full, now) + interval
  if nxt > latest then
    out[i] = -math.ceil(nxt - latest)
  else
    full = math.ceil(nxt)
    out[i] = math.floor((latest - nxt) / interval)
    took = true
  end
end
if took then
  redis.call('SET', KEYS[1], string.format('%.0f', full), 'PX', math.max(1, math.ceil((full - now) / 1000)))
end
return out
`

// DefaultPrefix is the default prefix of the buckets' keys. It is not
// under the projections' prefix ("attrib:"): the buckets are not a
// projection of the log, and a rebuild has no reason to refill them.
const DefaultPrefix = "attrib-ratelimit:"

// DefaultTimeout is the default Config.Timeout: long enough for a loaded
// Redis, short enough that an unreachable one adds little to a request
// that goes on without it.
const DefaultTimeout = 250 * time.Millisecond

// Config configures a Limiter. Client is required.
type Config struct {
	// Client is the Redis client; a cluster client works as well.
	Client redis.UniversalClient
	// Prefix of every bucket's key. Default DefaultPrefix.
	Prefix string
	// Timeout bounds a check's time in the queue and, apart, its
	// pipeline's round trip, so a caller waits at most about twice as
	// long; past it the request is let through (see Policy.Allow).
	// Default DefaultTimeout.
	Timeout time.Duration
	// Logger receives the outage warnings. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the metrics. Nil: kept, not registered.
	Registerer prometheus.Registerer
}

// Tuning of the shared pipelines.
const (
	maxBatch    = 512              // checks per pipeline: a few hundred requests in flight per process fit one
	queueSize   = 4096             // checks waiting for the worker; more means Redis is far behind, and a check fails open at once
	idleTimeout = 10 * time.Second // the worker leaves after this long idle
	logEvery    = 10 * time.Second // at most one outage warning per policy this often
)

// Limiter keeps token buckets in Redis, one key per bucket,
// "<Prefix><kind>:<id>" (the id escaped by rediskey.Seg).
//
// A check is one EVALSHA of the script (EVAL when Redis does not have it
// yet: after a restart, a SCRIPT FLUSH or on a new cluster node).
// Concurrent checks share pipelines, as ingest.RedisDedupe's calls do: a
// worker (started on demand, gone after 10 s idle) sends the checks that
// are waiting as one pipeline, and those that came meanwhile as the next;
// a check costs at most one round trip and, under load, a fraction of one.
// The checks of one bucket in a pipeline go as one script call that
// decides them in their order, as many Takes in a row at one time: a
// busy caller's burst costs Redis one call per pipeline, not per request.
//
// It is safe for concurrent use.
type Limiter struct {
	cfg     Config
	log     *slog.Logger
	refused *prometheus.CounterVec
	errors  *prometheus.CounterVec

	// src and sha are the script and its SHA-1 (a test gives the
	// script a comment of its own to see Redis without it).
	src, sha string
	ops      chan *op
	running  atomic.Int32
}

// New validates cfg and returns a Limiter.
func New(cfg Config) (*Limiter, error) {
	if cfg.Client == nil {
		return nil, errors.New("ratelimit: a Redis client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	f := promreg.With(cfg.Registerer)
	return &Limiter{
		cfg: cfg,
		log: cfg.Logger,
		refused: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_ratelimit_refused_total",
			Help: "Requests refused with 429 by a rate limit, by kind of route (webhook: per brand; api: per token).",
		}, []string{"kind"}),
		errors: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_ratelimit_errors_total",
			Help: "Rate-limit checks that failed (Redis unreachable or slower than the timeout) and let the request through unlimited, by kind of route.",
		}, []string{"kind"}),
		src: takeScript,
		sha: redis.NewScript(takeScript).Hash(),
		ops: make(chan *op, queueSize),
	}, nil
}

// Policy returns the policy of one kind of route: limit l for each caller,
// under kind in the keys and in the metrics' "kind" label. A policy with
// no limit (l.Rate 0) allows everything without asking Redis.
func (lim *Limiter) Policy(kind string, l Limit) (*Policy, error) {
	if kind == "" {
		return nil, errors.New("ratelimit: a policy needs a kind")
	}
	if err := l.Validate(); err != nil {
		return nil, fmt.Errorf("ratelimit: %s limit: %w", kind, err)
	}
	p := &Policy{lim: lim, kind: kind, limit: l,
		prefix:   lim.cfg.Prefix + rediskey.Seg(kind) + ":",
		burst:    strconv.Itoa(l.Burst),
		refused:  lim.refused.WithLabelValues(kind),
		failures: lim.errors.WithLabelValues(kind),
	}
	if !l.Unlimited() {
		p.interval = strconv.FormatFloat(l.interval(), 'g', -1, 64)
	}
	return p, nil
}

// Policy is the limit of one kind of route, with a bucket per caller. It is
// safe for concurrent use.
type Policy struct {
	lim      *Limiter
	kind     string
	limit    Limit
	prefix   string
	interval string // the script's arguments, formatted once
	burst    string
	refused  prometheus.Counter
	failures prometheus.Counter
	// lastLog is when an outage was last logged (Unix nanoseconds), and
	// failed counts the failures since.
	lastLog atomic.Int64
	failed  atomic.Int64
}

// Limit returns the policy's limit.
func (p *Policy) Limit() Limit { return p.limit }

// Kind returns the policy's kind.
func (p *Policy) Kind() string { return p.kind }

// Allow takes a token from id's bucket. It answers whether the request may
// go ahead and, when not, how long the caller should wait.
//
// It fails open: when Redis does not answer within the Limiter's timeout
// (or answers an error), the request is allowed, the failure is counted in
// attrib_ratelimit_errors_total and logged (at most once every 10 s per
// policy). A limiter exists to protect the engine, and refusing every
// shop's orders because the limiter's store is down would do more harm
// than the floods it stops; what the request then needs from Redis or the
// log fails or succeeds on its own terms.
func (p *Policy) Allow(ctx context.Context, id string) (ok bool, retryAfter time.Duration) {
	if p.limit.Unlimited() {
		return true, 0
	}
	d, err := p.take(ctx, id, "")
	if err != nil {
		if ctx.Err() != nil {
			return true, 0 // the caller has gone: not Redis's failure
		}
		p.failures.Inc()
		p.logFailure(err)
		return true, 0
	}
	if !d.Allowed {
		p.refused.Inc()
	}
	return d.Allowed, d.RetryAfter
}

// Take takes a token from id's bucket and returns the decision, or the
// error that kept Redis from deciding; unlike Allow it does not fail open,
// count or log.
func (p *Policy) Take(ctx context.Context, id string) (Decision, error) {
	if p.limit.Unlimited() {
		return Decision{Allowed: true}, nil
	}
	return p.take(ctx, id, "")
}

func (p *Policy) logFailure(err error) {
	n := p.failed.Add(1)
	now := time.Now().UnixNano()
	last := p.lastLog.Load()
	if now-last < int64(logEvery) || !p.lastLog.CompareAndSwap(last, now) {
		return
	}
	p.failed.Add(-n)
	p.lim.log.Warn("rate limit: cannot check the bucket; requests go through unlimited until Redis answers",
		"kind", p.kind, "failures", n, "err", err)
}

// take runs the script for id's bucket; now is the time in Unix
// microseconds, or "" for Redis's clock.
func (p *Policy) take(ctx context.Context, id, now string) (Decision, error) {
	o := &op{ctx: ctx, p: p, now: now, key: p.prefix + rediskey.Seg(id),
		deadline: time.Now().Add(p.lim.cfg.Timeout), done: make(chan struct{})}
	if err := p.lim.submit(ctx, o); err != nil {
		return Decision{}, fmt.Errorf("rate limit %s: check %q: %w", p.kind, id, err)
	}
	return o.d, nil
}

// op is one check waiting for the worker.
type op struct {
	ctx context.Context // the caller's: a check whose caller has gone is not sent
	p   *Policy
	key string
	now string // the script's time argument
	// deadline is when the check stops waiting in the queue: its request
	// goes ahead without it, and it is not sent, so that it cannot take a
	// token later from a request that went through uncounted.
	deadline time.Time
	d        Decision
	err      error
	done     chan struct{}
}

// submit hands o to the worker and waits for its answer. A caller whose
// ctx ends stops waiting; with the queue full (Redis far behind) it does
// not wait at all.
func (lim *Limiter) submit(ctx context.Context, o *op) error {
	select {
	case lim.ops <- o:
	default:
		return errQueueFull
	}
	lim.kick()
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// kick starts the worker unless it runs. A worker that leaves checks the
// queue after it has said so, and submit kicks after its send: one of the
// two sees the other.
func (lim *Limiter) kick() {
	if lim.running.CompareAndSwap(0, 1) {
		go lim.work()
	}
}

// work sends the waiting checks as pipelines, one in flight, until it has
// been idle for idleTimeout.
func (lim *Limiter) work() {
	idle := time.NewTimer(idleTimeout)
	defer idle.Stop()
	batch := make([]*op, 0, maxBatch)
	for {
		select {
		case o := <-lim.ops:
			// Let the goroutines ready to run go first: under load they
			// are requests about to check too, and join this pipeline.
			runtime.Gosched()
			batch = append(batch[:0], o)
		more:
			for len(batch) < maxBatch {
				select {
				case o := <-lim.ops:
					batch = append(batch, o)
				default:
					break more
				}
			}
			lim.exec(batch)
			clear(batch)
			idle.Reset(idleTimeout)
		case <-idle.C:
			lim.running.Store(0)
			if len(lim.ops) > 0 {
				lim.kick()
			}
			return
		}
	}
}

// Errors of checks that Redis never saw.
var (
	errQueueTimeout = errors.New("no answer in time: Redis is slow or unreachable")
	errQueueFull    = errors.New("too many checks waiting: Redis is slow or unreachable")
)

// call is one script call: the checks of one bucket in a pipeline, in
// their order.
type call struct {
	ops []*op
	cmd *redis.Cmd
}

// exec sends a batch of checks as one pipeline of EVALSHA, one per bucket,
// and completes them. Calls that Redis answers NOSCRIPT go again as EVAL,
// which loads the script for the next time. Checks that waited past their
// deadline, or whose callers have gone, are dropped unsent.
func (lim *Limiter) exec(batch []*op) {
	now := time.Now()
	calls := make([]*call, 0, len(batch))
	byKey := make(map[string]*call, len(batch))
	for _, o := range batch {
		if now.After(o.deadline) || o.ctx.Err() != nil {
			o.err = errQueueTimeout
			close(o.done)
			continue
		}
		k := o.key + "\x00" + o.now // one clock per call
		c := byKey[k]
		if c == nil {
			c = &call{}
			byKey[k] = c
			calls = append(calls, c)
		}
		c.ops = append(c.ops, o)
	}
	if len(calls) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lim.cfg.Timeout)
	defer cancel()
	args := func(c *call) []any {
		o := c.ops[0]
		return []any{o.p.interval, o.p.burst, o.now, len(c.ops)}
	}
	pipe := lim.cfg.Client.Pipeline()
	for _, c := range calls {
		c.cmd = pipe.EvalSha(ctx, lim.sha, []string{c.ops[0].key}, args(c)...)
	}
	_, _ = pipe.Exec(ctx)
	var again []*call
	for _, c := range calls {
		if err := c.cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			again = append(again, c)
		}
	}
	if len(again) > 0 {
		pipe := lim.cfg.Client.Pipeline()
		for _, c := range again {
			c.cmd = pipe.Eval(ctx, lim.src, []string{c.ops[0].key}, args(c)...)
		}
		_, _ = pipe.Exec(ctx)
	}
	for _, c := range calls {
		ds, err := decisions(c.cmd, len(c.ops))
		for i, o := range c.ops {
			if err != nil {
				o.err = err
			} else {
				o.d = ds[i]
			}
			close(o.done)
		}
	}
}

// decisions reads the script's answer for n checks.
func decisions(c *redis.Cmd, n int) ([]Decision, error) {
	v, err := c.Slice()
	if err != nil {
		return nil, err
	}
	if len(v) != n {
		return nil, fmt.Errorf("script answered %d values for %d checks", len(v), n)
	}
	ds := make([]Decision, n)
	for i, x := range v {
		r, ok := x.(int64)
		switch {
		case !ok:
			return nil, fmt.Errorf("script answered %T at %d, want an integer", x, i)
		case r >= 0:
			ds[i] = Decision{Allowed: true, Remaining: int(r)}
		default:
			ds[i] = Decision{RetryAfter: time.Duration(-r) * time.Microsecond}
		}
	}
	return ds, nil
}
