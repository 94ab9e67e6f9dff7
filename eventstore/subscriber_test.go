package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/eventstore/embedded"
	"github.com/attrib-engine/attrib/internal/kafkatest"
)

// scripted is a PipelinedHandler whose batches finish when the test says:
// every Begin is recorded as a call, and its wait returns what the test
// sends on the call's result.
type scripted struct {
	t      testing.TB
	window int

	mu      sync.Mutex
	calls   []*call
	done    bool // every call succeeds
	changed chan struct{}
}

// call is one Begin: a batch of one partition, first to next, in a
// generation.
type call struct {
	generation  int32
	partition   int
	first, next int64
	ctx         context.Context
	result      chan error
}

func newScripted(t testing.TB, window int) *scripted {
	return &scripted{t: t, window: window, changed: make(chan struct{}, 1)}
}

// run runs a subscriber of the handler; at the end of the test, before it
// stops, every call still waiting succeeds, and so do the later ones.
func (h *scripted) run(s *eventstore.Store, cfg eventstore.SubscriberConfig) (*eventstore.Subscriber, func()) {
	h.t.Helper()
	cfg.Handler = h.factory()
	sub, stop := kafkatest.RunSubscriber(h.t, s, cfg)
	h.t.Cleanup(h.succeedAll) // cleanups run last first: before stop
	return sub, stop
}

// factory makes the handler of each assigned partition, which records the
// generation of its calls.
func (h *scripted) factory() eventstore.HandlerFactory {
	return func(_ context.Context, a eventstore.Assignment) (eventstore.PartitionHandler, error) {
		return &scriptedPartition{h: h, generation: a.Generation}, nil
	}
}

type scriptedPartition struct {
	h          *scripted
	generation int32
}

func (p *scriptedPartition) Window() int { return p.h.window }

func (p *scriptedPartition) Handle(context.Context, *eventstore.Batch) error {
	p.h.t.Errorf("Handle called on a handler with a window of %d", p.h.window)
	return errors.New("Handle called")
}

func (p *scriptedPartition) Begin(ctx context.Context, b *eventstore.Batch) func() error {
	h := p.h
	c := &call{generation: p.generation, partition: b.Partition, first: b.Messages[0].Offset, next: b.Next, ctx: ctx, result: make(chan error, 1)}
	h.mu.Lock()
	h.calls = append(h.calls, c)
	if h.done {
		c.result <- nil
	}
	h.mu.Unlock()
	select {
	case h.changed <- struct{}{}:
	default:
	}
	return func() error {
		select {
		case err := <-c.result:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// succeedAll answers every call still waiting with success, and every
// later call at once.
func (h *scripted) succeedAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	for _, c := range h.calls {
		select {
		case c.result <- nil:
		default:
		}
	}
}

// snapshot returns the calls so far, in order.
func (h *scripted) snapshot() []*call {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*call(nil), h.calls...)
}

// waitCalls waits until there are n calls and returns them.
func (h *scripted) waitCalls(n int, within time.Duration) []*call {
	h.t.Helper()
	deadline := time.After(within)
	for {
		if got := h.snapshot(); len(got) >= n {
			return got
		}
		select {
		case <-h.changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			h.t.Fatalf("waited %v for %d Begin calls; have %s", within, n, describe(h.snapshot()))
		}
	}
}

// quiet checks that no call beyond the first n comes for a while.
func (h *scripted) quiet(n int, what string) {
	h.t.Helper()
	time.Sleep(300 * time.Millisecond)
	if got := h.snapshot(); len(got) != n {
		h.t.Fatalf("%s: Begin calls %s, want only the first %d", what, describe(got), n)
	}
}

// describe lists calls as partition/first.
func describe(calls []*call) string {
	s := "["
	for i, c := range calls {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%d/%d", c.partition, c.first)
	}
	return s + "]"
}

// pipelineRig is a topic of partitions with n events in each, and a
// subscriber of a scripted handler that gets one event per batch.
type pipelineRig struct {
	t     *testing.T
	store *eventstore.Store
	topic string
	group string
	h     *scripted
	sub   *eventstore.Subscriber
	stop  func()
}

func newPipelineRig(t *testing.T, partitions, perPartition, window int, tune func(*eventstore.SubscriberConfig)) *pipelineRig {
	t.Helper()
	b := startBroker(t, embedded.Config{})
	r := &pipelineRig{t: t, store: openStore(t, b.Addrs()), topic: uniqueName(t, "topic"), group: uniqueName(t, "group"), h: newScripted(t, window)}
	ensureTopic(t, r.store, r.topic, partitions)
	for p := range partitions {
		for i := range perPartition {
			if _, err := r.store.AppendToPartition(context.Background(), r.topic, p, testEvent(fmt.Sprintf("k%d", p), i, 100)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := eventstore.SubscriberConfig{Group: r.group, Topics: []string{r.topic}, MaxBatch: 1}
	if tune != nil {
		tune(&cfg)
	}
	r.sub, r.stop = r.h.run(r.store, cfg)
	return r
}

// committed returns what the subscriber committed of partition p, -1 for
// nothing.
func (r *pipelineRig) committed(p int) int64 {
	if o, ok := r.sub.Committed()[r.topic][p]; ok {
		return o
	}
	return -1
}

// lag returns the group's lag on partition p, from the broker.
func (r *pipelineRig) lag(p int) int64 {
	r.t.Helper()
	lag, err := r.store.GroupLag(context.Background(), r.group, r.topic)
	if err != nil {
		r.t.Fatal(err)
	}
	return lag[p]
}

// waitCommitted waits until the subscriber committed want for partition p.
func (r *pipelineRig) waitCommitted(p int, want int64) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.committed(p) != want {
		if time.Now().After(deadline) {
			r.t.Fatalf("partition %d committed %d, want %d", p, r.committed(p), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPipelinedCommitsInOrder: batch k+1 of a pipelined handler finishes
// before batch k; nothing is committed until k is done too, then both at
// once. The window holds back batch k+2 until k is committed.
func TestPipelinedCommitsInOrder(t *testing.T) {
	t.Parallel()
	r := newPipelineRig(t, 1, 3, 2, nil)
	calls := r.h.waitCalls(2, 30*time.Second)
	if calls[0].first != 0 || calls[1].first != 1 {
		t.Fatalf("Begin calls %s, want 0/0 then 0/1", describe(calls))
	}
	calls[1].result <- nil
	r.h.quiet(2, "batch 1 done, batch 0 in flight (window 2)")
	if c := r.committed(0); c != -1 {
		t.Fatalf("committed %d while batch 0 was in flight, want nothing", c)
	}
	calls[0].result <- nil
	r.waitCommitted(0, 2)
	calls = r.h.waitCalls(3, 10*time.Second)
	if calls[2].first != 2 {
		t.Fatalf("third Begin %s, want 0/2", describe(calls))
	}
	calls[2].result <- nil
	r.waitCommitted(0, 3)
	waitLag(t, r.store, r.group, r.topic, 0)
}

// TestPipelinedFailureHoldsBackLaterCommits: batch k fails while its
// successor succeeded; the successor is not begun again (it succeeded),
// nothing past k is committed while k is retried, and once k succeeds
// both are.
func TestPipelinedFailureHoldsBackLaterCommits(t *testing.T) {
	t.Parallel()
	r := newPipelineRig(t, 1, 2, 2, nil)
	calls := r.h.waitCalls(2, 30*time.Second)
	calls[1].result <- nil
	latest := calls[0] // batch 0's latest Begin
	for n := 3; n <= 5; n++ {
		latest.result <- errors.New("dependency down")
		calls = r.h.waitCalls(n, 10*time.Second)
		if latest = calls[n-1]; latest.first != 0 {
			t.Fatalf("after batch 0 failed: Begin calls %s, want batch 0 again", describe(calls))
		}
		if c := r.committed(0); c != -1 {
			t.Fatalf("committed %d while batch 0 failed and batch 1 succeeded, want nothing", c)
		}
	}
	latest.result <- nil
	r.waitCommitted(0, 2)
	if calls := r.h.snapshot(); len(calls) != 5 {
		t.Errorf("Begin calls %s, want batch 0 four times and batch 1 once", describe(calls))
	}
	waitLag(t, r.store, r.group, r.topic, 0)
}

// TestPipelinedRetryFollowsEarlierBatch: a batch that failed while an
// earlier one was in flight is begun again only after that one succeeded
// (a handler keeping the log's order relies on it), and then at once, not
// after a backoff (its failure may have been the earlier batch's).
func TestPipelinedRetryFollowsEarlierBatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		retryMin time.Duration
	}{
		// A short backoff: a retry that did not wait for batch 0 would
		// come while batch 0 is held.
		{"not before the earlier batch", 20 * time.Millisecond},
		// A long backoff: a retry that waited for it would not come
		// within the test's wait.
		{"at once after it", 20 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newPipelineRig(t, 1, 2, 2, func(c *eventstore.SubscriberConfig) {
				c.RetryMin, c.RetryMax = tc.retryMin, tc.retryMin
			})
			calls := r.h.waitCalls(2, 30*time.Second)
			calls[1].result <- errors.New("the earlier batch's flush failed")
			r.h.quiet(2, "batch 1 failed, batch 0 in flight")
			calls[0].result <- nil
			calls = r.h.waitCalls(3, 5*time.Second)
			if calls[2].first != 1 {
				t.Fatalf("Begin calls %s, want batch 1 again after batch 0", describe(calls))
			}
			r.waitCommitted(0, 1)
			calls[2].result <- nil
			r.waitCommitted(0, 2)
		})
	}
}

// TestPipelinedShutdownWithBatchesInFlight: a shutdown while two batches
// are in flight lets them finish (their contexts live on), commits the
// ones that succeeded up to the first that did not, and retries nothing;
// the next member starts after the last committed batch.
func TestPipelinedShutdownWithBatchesInFlight(t *testing.T) {
	t.Parallel()
	fail := errors.New("failed while draining")
	for _, tc := range []struct {
		name    string
		results [2]error // of batches 0 and 1
		wantLag int64    // of the 3 events
	}{
		{"both succeed", [2]error{nil, nil}, 1},
		{"the earlier fails", [2]error{fail, nil}, 3},
		{"the later fails", [2]error{nil, fail}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newPipelineRig(t, 1, 3, 2, nil)
			calls := r.h.waitCalls(2, 30*time.Second)
			stopped := make(chan struct{})
			go func() { r.stop(); close(stopped) }()
			time.Sleep(300 * time.Millisecond) // the shutdown waits for the batches
			select {
			case <-stopped:
				t.Fatal("subscriber stopped with batches in flight")
			default:
			}
			for i := 1; i >= 0; i-- { // the later one first
				if err := calls[i].ctx.Err(); err != nil {
					t.Fatalf("batch %d's context ended with the generation: %v", i, err)
				}
				calls[i].result <- tc.results[i]
			}
			<-stopped
			if calls := r.h.snapshot(); len(calls) != 2 {
				t.Errorf("Begin calls %s after the shutdown began, want none", describe(calls))
			}
			if got := r.lag(0); got != tc.wantLag {
				t.Errorf("group lag %d of 3 events after the shutdown, want %d", got, tc.wantLag)
			}

			next := newCollector()
			runSubscriber(t, r.store, eventstore.SubscriberConfig{
				Group: r.group, Topics: []string{r.topic},
				Handler: eventstore.Stateless(eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
					next.add(b.Messages...)
					return nil
				})),
			})
			got := next.waitFor(t, 30*time.Second, "the rest of the partition", func(m []eventstore.Message) bool { return len(m) > 0 && m[len(m)-1].Offset == 2 })
			if want := 3 - tc.wantLag; got[0].Offset != want {
				t.Errorf("the next member starts at offset %d, want %d", got[0].Offset, want)
			}
		})
	}
}

// TestPipelinedRebalanceWithBatchesInFlight: a member joining the group
// ends the generation while the first member has two batches in flight on
// each of two partitions; they drain, nothing else of the old generation
// is begun, each partition commits up to its first failed batch, and the
// new generation starts every partition there.
func TestPipelinedRebalanceWithBatchesInFlight(t *testing.T) {
	t.Parallel()
	r := newPipelineRig(t, 2, 3, 2, nil)
	calls := r.h.waitCalls(4, 30*time.Second)
	old := calls[0].generation
	byPartition := map[int][]*call{}
	for _, c := range calls {
		byPartition[c.partition] = append(byPartition[c.partition], c)
	}
	if len(byPartition[0]) != 2 || len(byPartition[1]) != 2 {
		t.Fatalf("Begin calls %s, want two batches of each partition", describe(calls))
	}

	other := newScripted(t, 2)
	other.run(r.store, eventstore.SubscriberConfig{Group: r.group, Topics: []string{r.topic}, MaxBatch: 1})
	waitRebalancing(t, r.store, r.group)
	// The first member learns it from its next heartbeat (every 300 ms).
	time.Sleep(time.Second)
	byPartition[0][1].result <- nil
	byPartition[0][0].result <- nil // partition 0: both done, commit 2
	byPartition[1][1].result <- nil
	byPartition[1][0].result <- errors.New("failed while draining") // partition 1: nothing

	want := map[int]int64{0: 2, 1: 0}
	deadline := time.Now().Add(30 * time.Second)
	for {
		first := map[int]int64{}
		for _, h := range []*scripted{r.h, other} {
			for _, c := range h.snapshot() {
				if c.generation == old {
					continue
				}
				if _, seen := first[c.partition]; !seen {
					first[c.partition] = c.first
				}
				select {
				case c.result <- nil:
				default:
				}
			}
		}
		if len(first) == 2 {
			if first[0] != want[0] || first[1] != want[1] {
				t.Errorf("the new generation starts the partitions at %v, want %v", first, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new generation with both partitions; started %v", first)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var ofOld []*call
	for _, c := range r.h.snapshot() {
		if c.generation == old {
			ofOld = append(ofOld, c)
		}
	}
	if len(ofOld) != 4 {
		t.Errorf("the old generation began %s, want only the 4 batches in flight when it ended", describe(ofOld))
	}
}

// waitRebalancing waits until the group is rebalancing.
func waitRebalancing(t *testing.T, s *eventstore.Store, group string) {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(s.Brokers()...)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := c.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err == nil && len(res.Groups) == 1 && res.Groups[0].GroupState != "Stable" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s did not start rebalancing: %v %v", group, res, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOneBatchAtATimeWithoutPipelining: a handler that does not pipeline
// (a plain one, or one whose window is 1) never has two batches of one
// partition at once, while partitions do run in parallel.
func TestOneBatchAtATimeWithoutPipelining(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		wrap func(eventstore.PartitionHandler) eventstore.PartitionHandler
	}{
		{"plain", func(h eventstore.PartitionHandler) eventstore.PartitionHandler { return h }},
		{"window of 1", func(h eventstore.PartitionHandler) eventstore.PartitionHandler { return windowOne{h, t} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const partitions, perPartition = 4, 12
			b := startBroker(t, embedded.Config{})
			s := openStore(t, b.Addrs())
			topic, group := uniqueName(t, "topic"), uniqueName(t, "group")
			ensureTopic(t, s, topic, partitions)
			for p := range partitions {
				for i := range perPartition {
					if _, err := s.AppendToPartition(context.Background(), topic, p, testEvent(fmt.Sprintf("k%d", p), i, 100)); err != nil {
						t.Fatal(err)
					}
				}
			}
			var (
				inPartition [partitions]atomic.Int32
				inAll       atomic.Int32
				maxAll      atomic.Int32
				overlaps    atomic.Int32
				handled     = newCollector()
			)
			h := eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
				if inPartition[b.Partition].Add(1) > 1 {
					overlaps.Add(1)
				}
				n := inAll.Add(1)
				for m := maxAll.Load(); n > m && !maxAll.CompareAndSwap(m, n); m = maxAll.Load() {
				}
				time.Sleep(30 * time.Millisecond)
				inAll.Add(-1)
				inPartition[b.Partition].Add(-1)
				handled.add(b.Messages...)
				return nil
			})
			runSubscriber(t, s, eventstore.SubscriberConfig{Group: group, Topics: []string{topic}, MaxBatch: 1, Handler: eventstore.Stateless(tc.wrap(h))})
			handled.waitFor(t, 30*time.Second, "every event", func(m []eventstore.Message) bool { return len(m) >= partitions*perPartition })
			if n := overlaps.Load(); n > 0 {
				t.Errorf("%d times a batch began while another of its partition was handled", n)
			}
			if maxAll.Load() < 2 {
				t.Errorf("at most %d batches at once over %d partitions: the check above proves nothing", maxAll.Load(), partitions)
			}
		})
	}
}

// windowOne is a PipelinedHandler with a window of 1, which turns
// pipelining off: only its Handle may be called.
type windowOne struct {
	eventstore.PartitionHandler
	t *testing.T
}

func (windowOne) Window() int { return 1 }

func (w windowOne) Begin(context.Context, *eventstore.Batch) func() error {
	w.t.Errorf("Begin called on a handler with a window of 1")
	return func() error { return errors.New("Begin called") }
}
