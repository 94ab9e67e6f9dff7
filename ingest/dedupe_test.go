package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/ingest"
	"github.com/attrib-engine/attrib/internal/testenv"
)

// gatedPipelines records the size of every dedupe pipeline of a client
// and, once armed, holds the next one until released, optionally failing
// the one after it.
type gatedPipelines struct {
	mu       sync.Mutex
	sizes    []int          // keys of each pipeline
	commands map[string]int // commands of the pipelines, by name
	armed    bool
	entered  chan struct{}
	release  chan struct{}
	failNext bool
}

func (h *gatedPipelines) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *gatedPipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *gatedPipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) == 0 || cmds[0].Name() == "hello" || cmds[0].Name() == "client" {
			return next(ctx, cmds) // a new connection's handshake
		}
		if cmds[0].Name() == "unlink" {
			return next(ctx, cmds) // the periods that left the window
		}
		keys := 0
		h.mu.Lock()
		if h.commands == nil {
			h.commands = map[string]int{}
		}
		for _, c := range cmds {
			h.commands[c.Name()]++
		}
		keys = dedupeKeys(cmds)
		h.sizes = append(h.sizes, keys)
		gate, fail := h.armed, false
		if gate {
			h.armed = false
		} else if h.failNext {
			h.failNext, fail = false, true
		}
		h.mu.Unlock()
		if gate {
			close(h.entered)
			<-h.release
		}
		if fail {
			for _, c := range cmds {
				c.SetErr(errInjected)
			}
			return errInjected
		}
		return next(ctx, cmds)
	}
}

// dedupeKeys is the number of dedupe keys a pipeline of RedisDedupe
// checks or marks: one for each HSET and for each pair of HEXISTS (a key
// is looked up in two periods); none for PEXPIRE.
func dedupeKeys(cmds []redis.Cmder) int {
	keys, hexists := 0, 0
	for _, c := range cmds {
		switch c.Name() {
		case "hset":
			keys++
		case "hexists":
			hexists++
		}
	}
	return keys + hexists/2
}

// arm makes the next pipeline wait for release; failNext fails the one
// after it.
func (h *gatedPipelines) arm(failNext bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed, h.failNext = true, failNext
	h.entered, h.release = make(chan struct{}), make(chan struct{})
	h.sizes, h.commands = nil, map[string]int{}
}

func (h *gatedPipelines) pipelineSizes() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.sizes...)
}

func (h *gatedPipelines) commandCounts() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.commands)
}

// gatedDedupe returns a RedisDedupe on a client of its own, whose
// pipelines the returned hook records and can hold; oneServer false hides
// that it is a *redis.Client.
func gatedDedupe(t *testing.T, oneServer bool) (*ingest.RedisDedupe, *gatedPipelines) {
	t.Helper()
	c, prefix := testenv.Redis(t)
	hook := &gatedPipelines{}
	c.AddHook(hook)
	var client redis.UniversalClient = c
	if !oneServer {
		client = otherClient{c}
	}
	return &ingest.RedisDedupe{Client: client, Prefix: prefix, TTL: time.Hour}, hook
}

// TestRedisDedupeSharesPipelines holds one pipeline in flight while calls
// of several sizes queue behind it, and checks that the worker sends them
// all as the next pipeline, with each call's answers its own: marked keys
// seen, others not, and the marks of that pipeline made; the checks are
// HEXISTS per key and period, whatever the client. Then
// a failed shared pipeline fails every call in it.
func TestRedisDedupeSharesPipelines(t *testing.T) {
	for _, oneServer := range []bool{true, false} {
		t.Run(fmt.Sprintf("oneServer=%v", oneServer), func(t *testing.T) { testRedisDedupeSharesPipelines(t, oneServer) })
	}
}

func testRedisDedupeSharesPipelines(t *testing.T, oneServer bool) {
	d, hook := gatedDedupe(t, oneServer)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	key := func(call, i int) string { return ingest.DedupeKey("b1", fmt.Sprintf("e%d-%d", call, i)) }
	// Calls 0..5 check i+1 keys each, of which the even ones are marked
	// beforehand; calls 6 and 7 mark keys of their own.
	const checks, calls = 6, 8
	size := func(call int) int { return call + 1 }
	var marked []string
	for call := range checks {
		for i := 0; i < size(call); i += 2 {
			marked = append(marked, key(call, i))
		}
	}
	if err := d.Mark(ctx, marked); err != nil {
		t.Fatal(err)
	}

	run := func(failNext bool) ([][]bool, []error) {
		t.Helper()
		hook.arm(failNext)
		blocker := make(chan error, 1)
		go func() { _, err := d.Seen(ctx, []string{key(99, 0)}); blocker <- err }()
		<-hook.entered
		seen := make([][]bool, calls)
		errs := make([]error, calls)
		var wg sync.WaitGroup
		for call := range calls {
			keys := make([]string, size(call))
			for i := range keys {
				keys[i] = key(call, i)
			}
			wg.Go(func() {
				if call < checks {
					seen[call], errs[call] = d.Seen(ctx, keys)
				} else {
					errs[call] = d.Mark(ctx, keys)
				}
			})
		}
		for d.Queued() < calls {
			if ctx.Err() != nil {
				t.Fatalf("%d of %d calls queued behind the held pipeline: did another worker take them?", d.Queued(), calls)
			}
			time.Sleep(time.Millisecond)
		}
		close(hook.release)
		wg.Wait()
		if err := <-blocker; err != nil {
			t.Fatalf("the held call: %v", err)
		}
		return seen, errs
	}

	seen, errs := run(false)
	total := 0
	for call := range calls {
		total += size(call)
	}
	if got := hook.pipelineSizes(); len(got) != 2 || got[0] != 1 || got[1] != total {
		t.Errorf("pipelines of %v keys, want [1 %d]: the held one, then every queued call in one", got, total)
	}
	// A hash's expiry is set once per period by a process: by the marks
	// of buckets that the marks made beforehand did not reach.
	expired := map[int]bool{}
	for _, k := range marked {
		expired[d.BucketOf(k)] = true
	}
	checked, marks, expires := 0, 0, 0
	for call := range calls {
		if call < checks {
			checked += size(call)
			continue
		}
		marks += size(call)
		for i := range size(call) {
			if b := d.BucketOf(key(call, i)); !expired[b] {
				expired[b] = true
				expires++
			}
		}
	}
	want := map[string]int{"hexists": 2 * (1 + checked), "hset": marks, "pexpire": expires}
	if expires == 0 {
		delete(want, "pexpire")
	}
	if got := hook.commandCounts(); !maps.Equal(got, want) {
		t.Errorf("commands %v, want %v", got, want)
	}
	for call := range checks {
		if errs[call] != nil {
			t.Fatalf("call %d: %v", call, errs[call])
		}
		want := make([]bool, size(call))
		for i := range want {
			want[i] = i%2 == 0
		}
		if fmt.Sprint(seen[call]) != fmt.Sprint(want) {
			t.Errorf("call %d: seen %v, want %v", call, seen[call], want)
		}
	}
	for call := checks; call < calls; call++ {
		if errs[call] != nil {
			t.Fatalf("mark call %d: %v", call, errs[call])
		}
		keys := make([]string, size(call))
		for i := range keys {
			keys[i] = key(call, i)
		}
		got, err := d.Seen(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range got {
			if !s {
				t.Errorf("mark call %d: key %d not marked", call, i)
			}
		}
	}

	// A shared pipeline that fails fails every call in it.
	_, errs = run(true)
	for call, err := range errs {
		if !errors.Is(err, errInjected) {
			t.Errorf("call %d in a failed pipeline: err %v, want the injected one", call, err)
		}
	}
}

// TestRedisDedupeAddsWorkersForABacklog holds one pipeline in flight and
// queues more keys than a pipeline takes: another worker sends them
// meanwhile, in pipelines of at least DedupeMaxBatch keys, and leaves once
// the backlog is gone, so that small calls share one pipeline again.
func TestRedisDedupeAddsWorkersForABacklog(t *testing.T) {
	d, hook := gatedDedupe(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	hook.arm(false)
	held := make(chan error, 1)
	go func() { _, err := d.Seen(ctx, []string{ingest.DedupeKey("b1", "held")}); held <- err }()
	<-hook.entered

	// Calls of a third of a pipeline each: the first three wait (up to a
	// pipeline's worth queued), the fourth makes it more than a pipeline.
	const calls = 6
	size := ingest.DedupeMaxBatch/3 + 1
	errs := make(chan error, calls)
	for call := range calls {
		keys := make([]string, size)
		for i := range keys {
			keys[i] = ingest.DedupeKey("b1", fmt.Sprintf("e%d-%d", call, i))
		}
		go func() {
			seen, err := d.Seen(ctx, keys)
			if err == nil && len(seen) != len(keys) {
				err = fmt.Errorf("%d answers for %d keys", len(seen), len(keys))
			}
			errs <- err
		}()
	}
	for range calls {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatalf("calls still waiting behind the held pipeline: no worker was added for a backlog of %d keys", calls*size)
		}
	}
	// The added workers take calls up to a pipeline's worth at a time.
	sizes := hook.pipelineSizes()
	sent := 0
	for _, n := range sizes[1:] {
		sent += n
		if n > ingest.DedupeMaxBatch+size {
			t.Errorf("a pipeline of %d commands: want at most %d (a pipeline's worth, or just over)", n, ingest.DedupeMaxBatch+size)
		}
	}
	if sizes[0] != 1 || sent != calls*size {
		t.Errorf("pipelines of %v commands: want the held one of 1, then the %d calls' %d keys", sizes, calls, calls*size)
	}
	close(hook.release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for d.Workers() != 1 {
		if ctx.Err() != nil {
			t.Fatalf("%d workers after the backlog, want 1", d.Workers())
		}
		time.Sleep(time.Millisecond)
	}
}
