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
	"github.com/attrib-engine/attrib/schemas"
)

var topicSeq atomic.Int64

// uniqueName returns a topic or group name no other test uses.
func uniqueName(t testing.TB, kind string) string {
	t.Helper()
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return fmt.Sprintf("test.%s.%s.%d.%d", kind, strings.ToLower(name), os.Getpid(), topicSeq.Add(1))
}

func testLogger() *slog.Logger {
	if os.Getenv("ATTRIB_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// startBroker starts an embedded cluster for one test and stops it at the end.
func startBroker(t testing.TB, cfg embedded.Config) *embedded.Broker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	b, err := embedded.Start(cfg)
	if err != nil {
		t.Fatalf("start embedded broker: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// openStore opens a store on addrs and closes it at the end of the test.
func openStore(t testing.TB, addrs []string) *eventstore.Store {
	t.Helper()
	s, err := eventstore.Open(context.Background(), eventstore.Config{Brokers: addrs, Partitions: 4, Logger: testLogger()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
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
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 6 * time.Second
		cfg.RebalanceTimeout = 6 * time.Second
		cfg.HeartbeatInterval = 300 * time.Millisecond
		cfg.RetryMin = 20 * time.Millisecond
		cfg.RetryMax = 500 * time.Millisecond
	}
	sub, err := eventstore.NewSubscriber(s, cfg)
	if err != nil {
		t.Fatalf("new subscriber: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("subscriber %s: %v", cfg.Group, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("subscriber %s did not stop within 30s", cfg.Group)
			}
		})
	}
	t.Cleanup(stop)
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
