package eventstore_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/eventstore/embedded"
	"github.com/attrib-engine/attrib/schemas"
)

// TestPartitionOfMatchesAppend: the partition PartitionOf computes is the
// one Append writes to, and AppendToPartition reports the offsets its events
// got.
func TestPartitionOfMatchesAppend(t *testing.T) {
	t.Parallel()
	b := startBroker(t, embedded.Config{})
	s := openStore(t, b.Addrs())
	topic := uniqueName(t, "topic")
	ensureTopic(t, s, topic, 8)
	n, err := s.Partitions(context.Background(), topic)
	if err != nil || n != 8 {
		t.Fatalf("Partitions = %d, %v; want 8", n, err)
	}
	var batch []schemas.Envelope
	for i := range 64 {
		batch = append(batch, testEvent("brand-"+strconv.Itoa(i), i, 50))
	}
	if err := s.Append(context.Background(), topic, batch...); err != nil {
		t.Fatal(err)
	}
	// Then three events straight to the partition of one key.
	key := "brand-7"
	p := eventstore.PartitionOf(key, n)
	first, err := s.AppendToPartition(context.Background(), topic, p, testEvent(key, 100, 50), testEvent(key, 101, 50), testEvent(key, 102, 50))
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	runSubscriber(t, s, eventstore.SubscriberConfig{
		Group: uniqueName(t, "group"), Topics: []string{topic},
		Handler: c.handler(),
	})
	got := c.waitFor(t, 30*time.Second, "67 events", func(m []eventstore.Message) bool { return len(m) >= 67 })
	for _, m := range got {
		if want := eventstore.PartitionOf(string(m.Key), n); m.Partition != want {
			t.Errorf("key %s on partition %d, PartitionOf says %d", m.Key, m.Partition, want)
		}
		if _, seq := payloadSeq(t, m); seq >= 100 {
			if want := first + int64(seq-100); m.Offset != want {
				t.Errorf("event %d at offset %d, AppendToPartition said %d", seq, m.Offset, want)
			}
		}
	}

	var replayed int
	err = s.ReplayPartition(context.Background(), topic, p, eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
		for _, m := range b.Messages {
			if m.Partition != p {
				t.Errorf("ReplayPartition(%d) handed a message of partition %d", p, m.Partition)
			}
			replayed++
		}
		return nil
	}), eventstore.ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := int(first) + 3; replayed != want {
		t.Errorf("ReplayPartition read %d events, want %d", replayed, want)
	}
}

// TestConcurrentAppendsToPartitions: appends that run at once, of
// different sizes, each get back exactly their own events, though their
// record buffers are reused from one append to the next.
func TestConcurrentAppendsToPartitions(t *testing.T) {
	t.Parallel()
	b := startBroker(t, embedded.Config{})
	s := openStore(t, b.Addrs())
	topic := uniqueName(t, "topic")
	ensureTopic(t, s, topic, 4)
	const writers, appends, perAppend = 6, 15, 4
	want := make(map[string]string) // event id -> payload
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			key := "key-" + strconv.Itoa(w)
			p := eventstore.PartitionOf(key, 4)
			for a := range appends {
				var evs []schemas.Envelope
				for i := range perAppend {
					seq := (a*perAppend+i)*writers + w
					evs = append(evs, testEvent(key, seq, 60+(seq*37)%3000))
				}
				mu.Lock()
				for _, e := range evs {
					want[e.EventID] = string(e.Payload)
				}
				mu.Unlock()
				if _, err := s.AppendToPartition(context.Background(), topic, p, evs...); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c := newCollector()
	runSubscriber(t, s, eventstore.SubscriberConfig{
		Group: uniqueName(t, "group"), Topics: []string{topic},
		Handler: c.handler(),
	})
	total := writers * appends * perAppend
	got := c.waitFor(t, 30*time.Second, "every event", func(m []eventstore.Message) bool { return len(m) >= total })
	if len(got) != total {
		t.Fatalf("read %d events, want %d", len(got), total)
	}
	for _, m := range got {
		if p, ok := want[m.Envelope.EventID]; !ok || p != string(m.Envelope.Payload) {
			t.Fatalf("event %s at %d/%d: payload %.80q, want %.80q", m.Envelope.EventID, m.Partition, m.Offset, m.Envelope.Payload, p)
		}
		delete(want, m.Envelope.EventID)
	}
}

// TestPartitionOfKnownKeys compares PartitionOf with kafka-go's
// Murmur2Balancer given a fresh list of partitions (the Java client's
// partitioner), on both sides of the partition counts it keeps a list for.
func TestPartitionOfKnownKeys(t *testing.T) {
	for _, tc := range []struct {
		key  string
		n    int
		want int
	}{
		{"brand-7", 8, reference("brand-7", 8)},
		{"", 3, reference("", 3)},
		{"brd_29de8d4467cbf14e5c190079", 256, reference("brd_29de8d4467cbf14e5c190079", 256)},
		{"brd_29de8d4467cbf14e5c190079", 1000, reference("brd_29de8d4467cbf14e5c190079", 1000)},
		{"brd_29de8d4467cbf14e5c190079/order-1", 1, 0},
	} {
		if got := eventstore.PartitionOf(tc.key, tc.n); got != tc.want {
			t.Errorf("PartitionOf(%q, %d) = %d, want %d", tc.key, tc.n, got, tc.want)
		}
	}
	// Spread over the partitions, not stuck on a few.
	seen := map[int]bool{}
	for i := range 5000 {
		seen[eventstore.PartitionOf("key-"+strconv.Itoa(i), 300)] = true
	}
	if len(seen) < 290 {
		t.Errorf("5000 keys on %d of 300 partitions", len(seen))
	}
}

func reference(key string, n int) int {
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	return kafka.Murmur2Balancer{Consistent: true}.Balance(kafka.Message{Key: []byte(key)}, parts...)
}
