package eventstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/eventstore/embedded"
	"github.com/attrib-engine/attrib/internal/kafkatest"
	"github.com/attrib-engine/attrib/schemas"
)

var topicSeq atomic.Int64

// uniqueName returns a topic or group name no other test uses.
func uniqueName(t testing.TB, kind string) string {
	t.Helper()
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return fmt.Sprintf("test.%s.%s.%d.%d", kind, strings.ToLower(name), os.Getpid(), topicSeq.Add(1))
}

func testLogger() *slog.Logger { return kafkatest.Logger() }

// startBroker starts an embedded cluster for one test and stops it at the end.
func startBroker(t testing.TB, cfg embedded.Config) *embedded.Broker {
	t.Helper()
	return kafkatest.StartBroker(t, cfg)
}

// openStore opens a store on addrs and closes it at the end of the test.
func openStore(t testing.TB, addrs []string) *eventstore.Store {
	t.Helper()
	return kafkatest.OpenStore(t, addrs, 4)
}

func ensureTopic(t testing.TB, s *eventstore.Store, topic string, partitions int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.EnsureTopics(ctx, eventstore.TopicSpec{Name: topic, Partitions: partitions}); err != nil {
		t.Fatalf("ensure topic %s: %v", topic, err)
	}
}

// testEvent makes an envelope with an opaque payload of about size bytes.
func testEvent(key string, seq int, size int) schemas.Envelope {
	pad := strings.Repeat("x", max(size-60, 0))
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	return schemas.Envelope{
		EventID:       schemas.NewEventID(),
		Type:          "test.event",
		SchemaVersion: 1,
		AggregateKey:  key,
		OccurredAt:    now,
		RecordedAt:    now,
		Payload:       []byte(fmt.Sprintf(`{"key":%q,"seq":%d,"pad":%q}`, key, seq, pad)),
	}
}

// collector is a thread-safe record of what a handler saw.
type collector struct {
	mu     sync.Mutex
	events []eventstore.Message
	notify chan struct{}
}

func newCollector() *collector { return &collector{notify: make(chan struct{}, 1)} }

// handler is a subscriber's handler that records every batch in c.
func (c *collector) handler() eventstore.HandlerFactory {
	return eventstore.Stateless(eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
		c.add(b.Messages...)
		return nil
	}))
}

func (c *collector) add(msgs ...eventstore.Message) {
	c.mu.Lock()
	c.events = append(c.events, msgs...)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *collector) snapshot() []eventstore.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]eventstore.Message(nil), c.events...)
}

// waitFor waits until cond holds on the collected events, or fails the test.
func (c *collector) waitFor(t testing.TB, timeout time.Duration, what string, cond func([]eventstore.Message) bool) []eventstore.Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		got := c.snapshot()
		if cond(got) {
			return got
		}
		select {
		case <-c.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s; have %d events", timeout, what, len(got))
		}
	}
}

// runSubscriber runs a subscriber until the returned stop function is
// called (or the test ends); stop waits for Run to return.
func runSubscriber(t testing.TB, s *eventstore.Store, cfg eventstore.SubscriberConfig) (stop func()) {
	t.Helper()
	_, stop = kafkatest.RunSubscriber(t, s, cfg)
	return stop
}

func payloadSeq(t testing.TB, m eventstore.Message) (key string, seq int) {
	t.Helper()
	var p struct {
		Key string `json:"key"`
		Seq int    `json:"seq"`
	}
	if err := json.Unmarshal(m.Envelope.Payload, &p); err != nil {
		t.Fatalf("payload at offset %d: %v", m.Offset, err)
	}
	return p.Key, p.Seq
}
