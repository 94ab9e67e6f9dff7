package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/eventstore/embedded"
	"github.com/attrib-engine/attrib/schemas"
)

// TestAppendAndConsume is the basic flow on a one-broker and a three-broker
// cluster: the same code, whatever the cluster.
func TestAppendAndConsume(t *testing.T) {
	for _, brokers := range []int{1, 3} {
		t.Run(fmt.Sprintf("brokers=%d", brokers), func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, embedded.Config{Brokers: brokers})
			if got := len(b.Addrs()); got != brokers {
				t.Fatalf("cluster has %d brokers, want %d", got, brokers)
			}
			s := openStore(t, b.Addrs())
			topic := uniqueName(t, "topic")
			ensureTopic(t, s, topic, 4)

			var events []string
			for i := range 200 {
				e := testEvent("brand-"+strconv.Itoa(i%7), i, 300)
				if err := s.Append(context.Background(), topic, e); err != nil {
					t.Fatalf("append %d: %v", i, err)
				}
				events = append(events, e.EventID)
			}
			c := newCollector()
			runSubscriber(t, s, eventstore.SubscriberConfig{
				Group: uniqueName(t, "group"), Topics: []string{topic},
				Handler: c.handler(),
			})
			got := c.waitFor(t, 30*time.Second, "200 events", func(m []eventstore.Message) bool { return len(m) >= 200 })
			var ids []string
			for _, m := range got {
				ids = append(ids, m.Envelope.EventID)
			}
			slices.Sort(ids)
			slices.Sort(events)
			if !slices.Equal(ids, events) {
				t.Fatalf("consumed %d events, want exactly the %d appended", len(ids), len(events))
			}
		})
	}
}

// TestAppendSurvivesBrokerRestart appends, stops the broker, starts a new one
// on the same data directory, and reads every event back in order.
func TestAppendSurvivesBrokerRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b1, err := embedded.Start(embedded.Config{DataDir: dir, SyncWrites: true, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := eventstore.Open(context.Background(), eventstore.Config{Brokers: b1.Addrs(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	topic := uniqueName(t, "topic")
	ensureTopic(t, s1, topic, 4)
	var want []string
	for batch := range 5 {
		var events = make([]string, 0, 100)
		envs := make([]schemas.Envelope, 0, 100)
		for i := range 100 {
			e := testEvent("k"+strconv.Itoa(i%10), batch*100+i, 300)
			envs = append(envs, e)
			events = append(events, e.EventID)
		}
		if err := s1.Append(context.Background(), topic, envs...); err != nil {
			t.Fatalf("append batch %d: %v", batch, err)
		}
		want = append(want, events...)
	}
	_ = s1.Close()
	b1.Close()

	b2 := startBroker(t, embedded.Config{DataDir: dir})
	s2 := openStore(t, b2.Addrs())
	var got []string
	lastSeq := map[string]int{}
	err = s2.Replay(context.Background(), topic, eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
		for _, m := range b.Messages {
			key, seq := payloadSeq(t, m)
			if prev, ok := lastSeq[key]; ok && seq <= prev {
				t.Errorf("key %s: seq %d after %d", key, seq, prev)
			}
			lastSeq[key] = seq
			got = append(got, m.Envelope.EventID)
		}
		return nil
	}), eventstore.ReplayOptions{})
	if err != nil {
		t.Fatalf("replay after restart: %v", err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("after restart read %d events, want the %d appended", len(got), len(want))
	}
}

// TestUncommittedBatchIsRedelivered: a consumer that stops before its commit
// (here: its handler never succeeds) leaves the batch to the next member, who
// gets it again from the first uncommitted offset; a batch once committed is
// not delivered again.
func TestUncommittedBatchIsRedelivered(t *testing.T) {
	t.Parallel()
	b := startBroker(t, embedded.Config{})
	s := openStore(t, b.Addrs())
	topic := uniqueName(t, "topic")
	group := uniqueName(t, "group")
	ensureTopic(t, s, topic, 1)
	for i := range 10 {
		if err := s.Append(context.Background(), topic, testEvent("k", i, 100)); err != nil {
			t.Fatal(err)
		}
	}

	failing := newCollector()
	stopA := runSubscriber(t, s, eventstore.SubscriberConfig{
		Group: group, Topics: []string{topic},
		Handler: eventstore.Stateless(eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
			failing.add(b.Messages...)
			return errors.New("crash before commit")
		})),
	})
	failing.waitFor(t, 30*time.Second, "a delivery to the failing consumer", func(m []eventstore.Message) bool { return len(m) > 0 })
	stopA()

	second := newCollector()
	stopB := runSubscriber(t, s, eventstore.SubscriberConfig{
		Group: group, Topics: []string{topic},
		Handler: second.handler(),
	})
	got := second.waitFor(t, 30*time.Second, "10 redelivered events", func(m []eventstore.Message) bool { return len(m) >= 10 })
	if got[0].Offset != 0 {
		t.Fatalf("redelivery starts at offset %d, want 0", got[0].Offset)
	}
	waitLag(t, s, group, topic, 0)
	stopB()

	third := newCollector()
	runSubscriber(t, s, eventstore.SubscriberConfig{
		Group: group, Topics: []string{topic},
		Handler: third.handler(),
	})
	if err := s.Append(context.Background(), topic, testEvent("k", 10, 100)); err != nil {
		t.Fatal(err)
	}
	third.waitFor(t, 30*time.Second, "the new event", func(m []eventstore.Message) bool { return len(m) >= 1 })
	time.Sleep(300 * time.Millisecond) // would a stale batch follow?
	got = third.snapshot()
	if len(got) != 1 || got[0].Offset != 10 {
		offs := []int64{}
		for _, m := range got {
			offs = append(offs, m.Offset)
		}
		t.Fatalf("after a committed batch the next member got offsets %v, want only [10]", offs)
	}
}

// TestOrderPerKeyAcrossPartitions appends interleaved keys to 4 partitions
// and checks every key is seen in append order, on a single partition.
func TestOrderPerKeyAcrossPartitions(t *testing.T) {
	t.Parallel()
	b := startBroker(t, embedded.Config{})
	s := openStore(t, b.Addrs())
	topic := uniqueName(t, "topic")
	ensureTopic(t, s, topic, 4)
	const keys, perKey = 20, 50
	for round := range perKey / 10 {
		var batch []schemas.Envelope
		for seq := round * 10; seq < round*10+10; seq++ {
			for k := range keys {
				batch = append(batch, testEvent("brand-"+strconv.Itoa(k)+"/order", seq, 200))
			}
		}
		if err := s.Append(context.Background(), topic, batch...); err != nil {
			t.Fatal(err)
		}
	}
	c := newCollector()
	runSubscriber(t, s, eventstore.SubscriberConfig{
		Group: uniqueName(t, "group"), Topics: []string{topic}, MaxBatch: 37,
		Handler: c.handler(),
	})
	got := c.waitFor(t, 30*time.Second, "all events", func(m []eventstore.Message) bool { return len(m) >= keys*perKey })
	next := map[string]int{}
	partOf := map[string]int{}
	partitions := map[int]bool{}
	for _, m := range got {
		key, seq := payloadSeq(t, m)
		if seq != next[key] {
			t.Fatalf("key %s: got seq %d, want %d", key, seq, next[key])
		}
		next[key]++
		if p, ok := partOf[key]; ok && p != m.Partition {
			t.Fatalf("key %s on partitions %d and %d", key, p, m.Partition)
		}
		partOf[key] = m.Partition
		partitions[m.Partition] = true
	}
	if len(partitions) < 2 {
		t.Fatalf("20 keys landed on %d partitions of 4; the balancer does not spread keys", len(partitions))
	}
}

// TestPoisonGoesToDeadLetter: a rejected event and an undecodable record go
// to the dead-letter topic with their reason and origin, and the events after
// them are handled.
func TestPoisonGoesToDeadLetter(t *testing.T) {
	t.Parallel()
	b := startBroker(t, embedded.Config{})
	s := openStore(t, b.Addrs())
	topic := uniqueName(t, "topic")
	group := uniqueName(t, "group")
	ensureTopic(t, s, topic, 1)
	for i := range 5 {
		if err := s.Append(context.Background(), topic, testEvent("k", i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	// A record no engine code could have written.
	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), kafka.Message{Topic: topic, Key: []byte("k"), Value: []byte("not json")}); err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 10; i++ {
		if err := s.Append(context.Background(), topic, testEvent("k", i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	c := newCollector()
	runSubscriber(t, s, eventstore.SubscriberConfig{
		Group: group, Topics: []string{topic},
		Handler: eventstore.Stateless(eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
			for i, m := range b.Messages {
				if _, seq := payloadSeq(t, m); seq == 3 {
					b.Reject(i, "amount: not a decimal")
					continue
				}
				c.add(m)
			}
			return nil
		})),
	})
	got := c.waitFor(t, 30*time.Second, "the 9 good events", func(m []eventstore.Message) bool { return len(m) >= 9 })
	var seqs []int
	for _, m := range got {
		_, seq := payloadSeq(t, m)
		seqs = append(seqs, seq)
	}
	if want := []int{0, 1, 2, 4, 5, 6, 7, 8, 9}; !slices.Equal(seqs, want) {
		t.Fatalf("handled seqs %v, want %v", seqs, want)
	}
	waitLag(t, s, group, topic, 0)

	var dead []eventstore.Message
	dlq := "attrib.dlq." + group
	err := s.Replay(context.Background(), dlq, eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
		dead = append(dead, b.Messages...)
		return nil
	}), eventstore.ReplayOptions{})
	if err != nil {
		t.Fatalf("read dead letters: %v", err)
	}
	if len(dead) != 2 {
		t.Fatalf("dead-letter topic holds %d records, want 2", len(dead))
	}
	reasons := map[string]string{}
	for _, d := range dead {
		reasons[eventstore.HeaderValue(d.Headers, eventstore.HeaderDLQOffset)] = eventstore.HeaderValue(d.Headers, eventstore.HeaderDLQReason)
		if got := eventstore.HeaderValue(d.Headers, eventstore.HeaderDLQTopic); got != topic {
			t.Errorf("origin topic header %q, want %q", got, topic)
		}
	}
	if r := reasons["3"]; r != "amount: not a decimal" {
		t.Errorf("reason of offset 3: %q, want the handler's", r)
	}
	if r := reasons["5"]; !strings.Contains(r, "undecodable envelope") {
		t.Errorf("reason of offset 5: %q, want it to say the envelope is undecodable", r)
	}
}

// TestGroupSplitsAndTakesOver: two members of one group split 4 partitions;
// when one leaves, the other takes its partitions over, and every event is
// handled.
func TestGroupSplitsAndTakesOver(t *testing.T) {
	t.Parallel()
	b := startBroker(t, embedded.Config{})
	s := openStore(t, b.Addrs())
	topic := uniqueName(t, "topic")
	group := uniqueName(t, "group")
	ensureTopic(t, s, topic, 4)

	appendRound := func(round int) []string {
		var batch []schemas.Envelope
		var ids []string
		for k := range 40 {
			e := testEvent("key-"+strconv.Itoa(k), round, 100)
			batch = append(batch, e)
			ids = append(ids, e.EventID)
		}
		if err := s.Append(context.Background(), topic, batch...); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	member := func(c *collector) func() {
		return runSubscriber(t, s, eventstore.SubscriberConfig{
			Group: group, Topics: []string{topic},
			Handler: c.handler(),
		})
	}
	a, bb := newCollector(), newCollector()
	stopA := member(a)
	member(bb)

	// Keep appending until both members have been handed events: a member
	// may first own everything until the other joined.
	var want []string
	deadline := time.Now().Add(40 * time.Second)
	for round := 0; ; round++ {
		want = append(want, appendRound(round)...)
		pa, pb := partitionsOf(a.snapshot()), partitionsOf(bb.snapshot())
		if len(pa) > 0 && len(pb) > 0 && time.Now().After(deadline.Add(-35*time.Second)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members never split the partitions: a=%v b=%v", pa, pb)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitLag(t, s, group, topic, 0)
	// In the last round (after the split settled) each partition went to
	// exactly one member.
	lastA, lastB := lastRoundPartitions(t, a.snapshot()), lastRoundPartitions(t, bb.snapshot())
	for p := range lastA {
		if lastB[p] {
			t.Fatalf("partition %d handled by both members in one generation", p)
		}
	}

	stopA()
	before := len(bb.snapshot())
	want = append(want, appendRound(1000)...)
	bb.waitFor(t, 30*time.Second, "b to take over all partitions", func(m []eventstore.Message) bool {
		return len(partitionsOf(m[before:])) == 4
	})
	waitLag(t, s, group, topic, 0)

	seen := map[string]bool{}
	for _, m := range append(a.snapshot(), bb.snapshot()...) {
		seen[m.Envelope.EventID] = true
	}
	for _, id := range want {
		if !seen[id] {
			t.Fatalf("event %s was never handled", id)
		}
	}
}

func partitionsOf(msgs []eventstore.Message) map[int]bool {
	out := map[int]bool{}
	for _, m := range msgs {
		out[m.Partition] = true
	}
	return out
}

// lastRoundPartitions returns the partitions on which a member handled an
// event of the highest round it saw.
func lastRoundPartitions(t *testing.T, msgs []eventstore.Message) map[int]bool {
	maxRound := -1
	for _, m := range msgs {
		_, r := payloadSeq(t, m)
		maxRound = max(maxRound, r)
	}
	out := map[int]bool{}
	for _, m := range msgs {
		if _, r := payloadSeq(t, m); r == maxRound {
			out[m.Partition] = true
		}
	}
	return out
}

// waitLag waits until the group's committed offsets leave exactly want
// records unconsumed on topic.
func waitLag(t testing.TB, s *eventstore.Store, group, topic string, want int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		lag, err := s.GroupLag(context.Background(), group, topic)
		var total int64
		for _, l := range lag {
			total += l
		}
		if err == nil && total == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s lag on %s: %v (err %v), want %d", group, topic, lag, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOpenRejectsBadConfig: bad broker settings fail at start, naming the
// broker address.
func TestOpenRejectsBadConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		brokers []string
		want    string
	}{
		{"none", nil, "no kafka brokers"},
		{"no port", []string{"localhost"}, `"localhost": want host:port`},
		{"port not a number", []string{"localhost:kafka"}, `port "kafka"`},
		{"empty host", []string{":9092"}, "empty host"},
		{"unreachable", []string{"127.0.0.1:1"}, "127.0.0.1:1] unreachable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := eventstore.Open(context.Background(), eventstore.Config{Brokers: tc.brokers, DialTimeout: time.Second, Logger: testLogger()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open(%v) error %v, want it to contain %q", tc.brokers, err, tc.want)
			}
		})
	}
}

// TestShutdownDrainsInFlightBatch: stopping a subscriber while its handler is
// in the middle of a batch lets the batch finish and commits it, so the next
// member does not get it again.
func TestShutdownDrainsInFlightBatch(t *testing.T) {
	t.Parallel()
	b := startBroker(t, embedded.Config{})
	s := openStore(t, b.Addrs())
	topic := uniqueName(t, "topic")
	group := uniqueName(t, "group")
	ensureTopic(t, s, topic, 1)
	if err := s.Append(context.Background(), topic, testEvent("k", 0, 100)); err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	stop := runSubscriber(t, s, eventstore.SubscriberConfig{
		Group: group, Topics: []string{topic},
		Handler: eventstore.Stateless(eventstore.HandlerFunc(func(ctx context.Context, b *eventstore.Batch) error {
			close(entered)
			<-release
			if ctx.Err() != nil {
				return ctx.Err() // the drain context must outlive the shutdown
			}
			finished.Store(true)
			return nil
		})),
	})
	<-entered
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	time.Sleep(200 * time.Millisecond) // the shutdown is now waiting on the handler
	select {
	case <-stopped:
		t.Fatal("subscriber stopped before its in-flight batch finished")
	default:
	}
	close(release)
	<-stopped
	if !finished.Load() {
		t.Fatal("handler saw its context cancelled by the shutdown")
	}
	waitLag(t, s, group, topic, 0)
}

// TestUndecodableTailAdvancesNext: when the newest records of a partition
// cannot be decoded, the handler is still called (with no messages) and
// Batch.Next passes them, so a watermark kept from Next reaches the end.
func TestUndecodableTailAdvancesNext(t *testing.T) {
	t.Parallel()
	b := startBroker(t, embedded.Config{})
	s := openStore(t, b.Addrs())
	topic := uniqueName(t, "topic")
	group := uniqueName(t, "group")
	ensureTopic(t, s, topic, 1)
	if err := s.Append(context.Background(), topic, testEvent("k", 0, 100)); err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	var next atomic.Int64
	runSubscriber(t, s, eventstore.SubscriberConfig{
		Group: group, Topics: []string{topic},
		Handler: eventstore.Stateless(eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
			next.Store(b.Next)
			return nil
		})),
	})
	deadline := time.Now().Add(30 * time.Second)
	for next.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("Next = %d after the good event, want 1", next.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := w.WriteMessages(context.Background(), kafka.Message{Topic: topic, Value: []byte("garbage")}, kafka.Message{Topic: topic, Value: []byte("{")}); err != nil {
		t.Fatal(err)
	}
	for next.Load() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("Next = %d after two undecodable records, want 3", next.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitLag(t, s, group, topic, 0)
}

// TestLongOutageRecovers: a handler that fails for longer than DrainTimeout
// (a dependency down) still gets its batch through once the dependency is
// back; the drain deadline applies only after the generation ends.
func TestLongOutageRecovers(t *testing.T) {
	t.Parallel()
	b := startBroker(t, embedded.Config{})
	s := openStore(t, b.Addrs())
	topic := uniqueName(t, "topic")
	group := uniqueName(t, "group")
	ensureTopic(t, s, topic, 1)
	if err := s.Append(context.Background(), topic, testEvent("k", 0, 100)); err != nil {
		t.Fatal(err)
	}
	outageEnds := time.Now().Add(1500 * time.Millisecond)
	var handled atomic.Bool
	runSubscriber(t, s, eventstore.SubscriberConfig{
		Group: group, Topics: []string{topic}, DrainTimeout: 300 * time.Millisecond,
		Handler: eventstore.Stateless(eventstore.HandlerFunc(func(ctx context.Context, _ *eventstore.Batch) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Now().Before(outageEnds) {
				return errors.New("dependency down")
			}
			handled.Store(true)
			return nil
		})),
	})
	waitLag(t, s, group, topic, 0)
	if !handled.Load() {
		t.Fatal("lag is 0 but the handler never succeeded")
	}
}

// TestReplayFromReadsOnlyWhatFollows: ReplayFrom, reading partitions
// concurrently, returns the ends it read
// to, and a second ReplayFrom from them reads exactly the events appended
// in between, none twice and none missed.
func TestReplayFromReadsOnlyWhatFollows(t *testing.T) {
	t.Parallel()
	b := startBroker(t, embedded.Config{})
	s := openStore(t, b.Addrs())
	topic := uniqueName(t, "topic")
	ensureTopic(t, s, topic, 3)
	appendN := func(from, n int) []string {
		var ids []string
		for i := from; i < from+n; i++ {
			e := testEvent("k"+strconv.Itoa(i%7), i, 50)
			ids = append(ids, e.EventID)
			if err := s.Append(context.Background(), topic, e); err != nil {
				t.Fatal(err)
			}
		}
		return ids
	}
	// Three partitions read at once: the handler must be safe for that.
	read := func(from map[int]int64) ([]string, map[int]int64) {
		var (
			mu  sync.Mutex
			got []string
		)
		ends, err := s.ReplayFrom(context.Background(), topic, from, eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range b.Messages {
				got = append(got, m.Envelope.EventID)
			}
			return nil
		}), eventstore.ReplayOptions{MaxBatch: 4, Concurrency: 3})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got, ends
	}
	first := appendN(0, 30)
	got, ends := read(nil)
	if slices.Sort(first); !slices.Equal(got, first) {
		t.Fatalf("first replay read %d events, want the %d appended", len(got), len(first))
	}
	var total int64
	for _, end := range ends {
		total += end
	}
	if len(ends) != 3 || total != 30 {
		t.Fatalf("ends %v, want 3 partitions summing to 30", ends)
	}
	second := appendN(30, 12)
	got, ends2 := read(ends)
	if slices.Sort(second); !slices.Equal(got, second) {
		t.Fatalf("replay from the ends read %v, want only the 12 appended since: %v", got, second)
	}
	if got, _ := read(ends2); len(got) != 0 {
		t.Fatalf("replay from the latest ends read %v, want nothing", got)
	}
}
