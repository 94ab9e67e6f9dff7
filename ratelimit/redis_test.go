package ratelimit

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/internal/testenv"
)

// newLimiter returns a Limiter on client under prefix, with its own
// metrics registry.
func newLimiter(t *testing.T, client redis.UniversalClient, prefix string) (*Limiter, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	lim, err := New(Config{Client: client, Prefix: prefix, Registerer: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return lim, reg
}

func policy(t *testing.T, lim *Limiter, kind string, l Limit) *Policy {
	t.Helper()
	p, err := lim.Policy(kind, l)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestScriptAgreesWithTake runs every case of TestTake through the Lua
// script, with the same clock: Redis must decide exactly as Take does.
func TestScriptAgreesWithTake(t *testing.T) {
	client, prefix := testenv.Redis(t)
	lim, _ := newLimiter(t, client, prefix)
	ctx := context.Background()
	for i, tc := range takeCases {
		t.Run(tc.name, func(t *testing.T) {
			p := policy(t, lim, "case"+strconv.Itoa(i), tc.limit)
			for j, s := range tc.steps {
				got, err := p.take(ctx, "caller", strconv.FormatInt(t0+s.at, 10))
				if err != nil {
					t.Fatal(err)
				}
				if got != s.want {
					t.Fatalf("request %d at +%dµs: Redis decided %+v, want %+v", j, s.at, got, s.want)
				}
			}
		})
	}
}

// TestBucketsAreSharedByProcesses: two Limiters with clients of their own,
// as two API processes, draw from one bucket per caller, and callers do
// not share theirs.
func TestBucketsAreSharedByProcesses(t *testing.T) {
	c1, prefix := testenv.Redis(t)
	c2, _ := testenv.Redis(t)
	l1, _ := newLimiter(t, c1, prefix)
	l2, _ := newLimiter(t, c2, prefix)
	limit := Limit{Rate: 0.001, Burst: 5} // no token comes back during the test
	p1, p2 := policy(t, l1, "webhook", limit), policy(t, l2, "webhook", limit)
	ctx := context.Background()
	for i, p := range []*Policy{p1, p2, p1, p2, p1} {
		if ok, _ := p.Allow(ctx, "brand:a"); !ok {
			t.Fatalf("request %d of a burst of 5 refused", i+1)
		}
	}
	for _, p := range []*Policy{p1, p2} {
		ok, wait := p.Allow(ctx, "brand:a")
		if ok || wait < 900*time.Second || wait > 1000*time.Second {
			t.Fatalf("6th request: allowed %v, retry after %v; want refused, about 1000 s", ok, wait)
		}
	}
	if ok, _ := p2.Allow(ctx, "brand:b"); !ok {
		t.Fatal("another caller's first request refused: buckets are per caller")
	}
	other := policy(t, l1, "api", limit)
	if ok, _ := other.Allow(ctx, "brand:a"); !ok {
		t.Fatal("the same id under another kind refused: kinds have buckets of their own")
	}
}

// TestBucketKeyExpiresWhenFull: a bucket's key lives until the bucket is
// full again, and a refusal writes nothing.
func TestBucketKeyExpiresWhenFull(t *testing.T) {
	client, prefix := testenv.Redis(t)
	lim, _ := newLimiter(t, client, prefix)
	p := policy(t, lim, "api", Limit{Rate: 1, Burst: 2})
	ctx := context.Background()
	key := prefix + "api:creator%3Ac%3A1" // the id escaped
	for range 2 {
		if ok, _ := p.Allow(ctx, "creator:c:1"); !ok {
			t.Fatal("burst refused")
		}
	}
	ttl, err := client.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= time.Second || ttl > 2*time.Second {
		t.Fatalf("key %s expires in %v, want when the bucket is full again, in at most 2 s", key, ttl)
	}
	before, err := client.Get(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := p.Allow(ctx, "creator:c:1"); ok {
		t.Fatal("third request allowed")
	}
	if after, _ := client.Get(ctx, key).Result(); after != before {
		t.Fatalf("a refused request changed the bucket: %s, then %s", before, after)
	}
}

// TestOneRoundTripPerCheck: a check is one EVALSHA in a pipeline, and
// concurrent checks share pipelines.
func TestOneRoundTripPerCheck(t *testing.T) {
	client, prefix := testenv.Redis(t)
	rt := &testenv.RedisRoundTrips{}
	client.AddHook(rt)
	lim, _ := newLimiter(t, client, prefix)
	p := policy(t, lim, "api", Limit{Rate: 1000, Burst: 1000})
	ctx := context.Background()
	if _, err := p.Take(ctx, "warm-up"); err != nil { // loads the script if it is new
		t.Fatal(err)
	}
	rt.Reset()
	for i := range 10 {
		if _, err := p.Take(ctx, "c"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if rt.Total() != 10 || rt.Pipelines.Load() != 10 {
		t.Fatalf("10 checks one after the other: %s, want 10 pipelines", rt)
	}
	rt.Reset()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if _, err := p.Take(ctx, "c"+strconv.Itoa(i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if rt.Total() > 200 || rt.Commands.Load() != 0 {
		t.Fatalf("200 concurrent checks: %s, want at most 200 pipelines", rt)
	}
	t.Logf("200 concurrent checks: %s", rt)
}

// TestScriptMissingFallsBackToEval: a Redis that does not have the script
// (restarted, flushed, a new cluster node) answers NOSCRIPT; the check is
// sent again with EVAL, which loads the script, and the next one is an
// EVALSHA again.
func TestScriptMissingFallsBackToEval(t *testing.T) {
	client, prefix := testenv.Redis(t)
	sent := &scriptCalls{}
	client.AddHook(sent)
	lim, _ := newLimiter(t, client, prefix)
	// A script of its own, that this Redis cannot have seen.
	lim.src = takeScript + "-- " + testenv.UniqueName("test ") + "\n"
	lim.sha = redis.NewScript(lim.src).Hash()
	p := policy(t, lim, "api", Limit{Rate: 1, Burst: 2})
	ctx := context.Background()
	d, err := p.Take(ctx, "c")
	if err != nil || !d.Allowed || d.Remaining != 1 {
		t.Fatalf("first check: %+v, %v; want allowed, 1 remaining", d, err)
	}
	if got := sent.String(); got != "evalsha eval" {
		t.Fatalf("first check sent %q, want \"evalsha eval\"", got)
	}
	sent.Reset()
	d, err = p.Take(ctx, "c")
	if err != nil || !d.Allowed || d.Remaining != 0 {
		t.Fatalf("second check: %+v, %v; want allowed, 0 remaining", d, err)
	}
	if got := sent.String(); got != "evalsha" {
		t.Fatalf("second check sent %q, want \"evalsha\": the script is loaded now", got)
	}
}

// scriptCalls is a go-redis hook that notes the EVAL and EVALSHA commands
// a client sends, in order.
type scriptCalls struct {
	mu    sync.Mutex
	names []string
}

func (h *scriptCalls) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *scriptCalls) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.note(cmd)
		return next(ctx, cmd)
	}
}

func (h *scriptCalls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.note(c)
		}
		return next(ctx, cmds)
	}
}

func (h *scriptCalls) note(c redis.Cmder) {
	if n := c.Name(); n == "eval" || n == "evalsha" {
		h.mu.Lock()
		h.names = append(h.names, n)
		h.mu.Unlock()
	}
}

func (h *scriptCalls) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.names, " ")
}

func (h *scriptCalls) Reset() { h.mu.Lock(); h.names = nil; h.mu.Unlock() }

// TestAllowFailsOpen: while Redis is unreachable every request is allowed,
// counted as an error of its kind and logged; once Redis is back the
// limit holds again.
func TestAllowFailsOpen(t *testing.T) {
	var outage testenv.Outage
	client, prefix := testenv.Redis(t, func(o *redis.Options) {
		o.Dialer = outage.Dial
		o.MaxRetries = -1
	})
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	lim, err := New(Config{Client: client, Prefix: prefix, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p := policy(t, lim, "webhook", Limit{Rate: 0.001, Burst: 1})
	ctx := context.Background()

	outage.Down.Store(true)
	for i := range 5 {
		if ok, _ := p.Allow(ctx, "brand"); !ok {
			t.Fatalf("request %d during the outage refused", i)
		}
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if ok, _ := p.Allow(gone, "brand"); !ok {
		t.Fatal("request of a caller that has gone refused")
	}
	if got := counter(t, reg, "attrib_ratelimit_errors_total", "webhook"); got != 5 {
		t.Errorf("attrib_ratelimit_errors_total{kind=webhook} = %v, want 5 (a caller that has gone is not Redis's failure)", got)
	}
	if got := counter(t, reg, "attrib_ratelimit_refused_total", "webhook"); got != 0 {
		t.Errorf("attrib_ratelimit_refused_total{kind=webhook} = %v during the outage, want 0", got)
	}
	if n := strings.Count(logs.String(), "rate limit: cannot check"); n != 1 {
		t.Errorf("%d outage warnings for 5 failures, want 1 (at most one per 10 s):\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "kind=webhook") {
		t.Errorf("the warning does not name the kind:\n%s", logs.String())
	}

	outage.Down.Store(false)
	if ok, _ := p.Allow(ctx, "brand"); !ok {
		t.Fatal("first request after the outage refused")
	}
	if ok, wait := p.Allow(ctx, "brand"); ok || wait <= 0 {
		t.Fatalf("second request after the outage: allowed %v, retry after %v; want refused", ok, wait)
	}
	if got := counter(t, reg, "attrib_ratelimit_refused_total", "webhook"); got != 1 {
		t.Errorf("attrib_ratelimit_refused_total{kind=webhook} = %v, want 1", got)
	}
}

// TestUnlimitedPolicyAsksNothing: a policy without a limit allows
// everything without a round trip.
func TestUnlimitedPolicyAsksNothing(t *testing.T) {
	client, prefix := testenv.Redis(t)
	rt := &testenv.RedisRoundTrips{}
	client.AddHook(rt)
	lim, _ := newLimiter(t, client, prefix)
	p := policy(t, lim, "api", Limit{})
	for range 3 {
		if ok, _ := p.Allow(context.Background(), "c"); !ok {
			t.Fatal("refused without a limit")
		}
	}
	if rt.Total() != 0 {
		t.Fatalf("%s without a limit, want none", rt)
	}
}

// TestLimiterOnRedisCluster: buckets of many callers, which land on every
// node of a cluster, each hold their limit.
func TestLimiterOnRedisCluster(t *testing.T) {
	url := testenv.RedisCluster(t)
	opt, err := redis.ParseClusterURL(url)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClusterClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	lim, _ := newLimiter(t, client, "rl:")
	p := policy(t, lim, "webhook", Limit{Rate: 0.001, Burst: 3})
	ctx := context.Background()
	var wg sync.WaitGroup
	for c := range 30 {
		wg.Go(func() {
			id := "brand-" + strconv.Itoa(c)
			for i := range 4 {
				d, err := p.Take(ctx, id)
				if err != nil {
					t.Errorf("%s: %v", id, err)
					return
				}
				if d.Allowed != (i < 3) {
					t.Errorf("%s request %d: %+v, want allowed only for the first 3", id, i+1, d)
				}
			}
		})
	}
	wg.Wait()
}

// counter returns the value of a counter with the given kind label.
func counter(t *testing.T, reg *prometheus.Registry, name, kind string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestCoalescedChecksAgreeWithTake: the checks of one bucket that share a
// pipeline go as one script call; the requests of every case that come
// at the same time, sent as one pipeline, get what Take in a row gives
// them.
func TestCoalescedChecksAgreeWithTake(t *testing.T) {
	client, prefix := testenv.Redis(t)
	sent := &scriptCalls{}
	client.AddHook(sent)
	lim, _ := newLimiter(t, client, prefix)
	if _, err := policy(t, lim, "warm-up", Limit{Rate: 1, Burst: 1}).Take(context.Background(), "x"); err != nil {
		t.Fatal(err) // loads the script, if this Redis did not have it
	}
	for i, tc := range takeCases {
		t.Run(tc.name, func(t *testing.T) {
			p := policy(t, lim, "case"+strconv.Itoa(i), tc.limit)
			for j := 0; j < len(tc.steps); {
				k := j
				var batch []*op
				for ; k < len(tc.steps) && tc.steps[k].at == tc.steps[j].at; k++ {
					batch = append(batch, &op{ctx: context.Background(), p: p, key: p.prefix + "caller", now: strconv.FormatInt(t0+tc.steps[k].at, 10),
						deadline: time.Now().Add(time.Minute), done: make(chan struct{})})
				}
				sent.Reset()
				lim.exec(batch)
				for n, o := range batch {
					if o.err != nil {
						t.Fatal(o.err)
					}
					if want := tc.steps[j+n].want; o.d != want {
						t.Fatalf("request %d at +%dµs, one of %d in a pipeline: %+v, want %+v", j+n, tc.steps[j].at, len(batch), o.d, want)
					}
				}
				if got := sent.String(); got != "evalsha" {
					t.Fatalf("%d checks of one bucket sent %q, want one evalsha", len(batch), got)
				}
				j = k
			}
		})
	}
}

// TestFullQueueFailsOpenAtOnce: with Redis hanging (a server that takes
// connections and never answers) and the queue full, a check does not
// wait for room: its request goes ahead while the first check still waits
// for its answer.
func TestFullQueueFailsOpenAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	client := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	reg := prometheus.NewRegistry()
	lim, err := New(Config{Client: client, Registerer: reg, Logger: slog.New(slog.DiscardHandler), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	lim.ops = make(chan *op, 1)
	p := policy(t, lim, "api", Limit{Rate: 1, Burst: 1})
	ctx := context.Background()
	first := make(chan struct{})
	go func() { p.Allow(ctx, "a"); close(first) }()
	for lim.running.Load() == 0 || len(lim.ops) > 0 { // the worker has taken the first check
		time.Sleep(time.Millisecond)
	}
	go p.Allow(ctx, "b") // fills the queue
	for len(lim.ops) == 0 {
		time.Sleep(time.Millisecond)
	}
	if ok, _ := p.Allow(ctx, "c"); !ok {
		t.Fatal("refused with the queue full")
	}
	select {
	case <-first:
		t.Fatal("the first check was answered before the third returned: the test did not fill the queue")
	default:
	}
	if got := counter(t, reg, "attrib_ratelimit_errors_total", "api"); got != 1 {
		t.Fatalf("attrib_ratelimit_errors_total{kind=api} = %v, want 1", got)
	}
	<-first
}
