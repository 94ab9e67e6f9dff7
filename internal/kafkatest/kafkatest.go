// Package kafkatest runs the embedded broker, event stores and subscribers
// for tests: each is stopped when its test ends, and the subscribers get
// timeouts short enough for a test (a member that leaves is replaced in
// seconds, a failing handler is retried within half a second).
package kafkatest

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/eventstore/embedded"
)

// Logger logs errors only, or everything from debug up when
// ATTRIB_TEST_VERBOSE is set.
func Logger() *slog.Logger {
	level := slog.LevelError
	if os.Getenv("ATTRIB_TEST_VERBOSE") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// StartBroker starts an embedded broker (cluster) for the test and stops it
// at the end; cfg.Logger defaults to Logger().
func StartBroker(t testing.TB, cfg embedded.Config) *embedded.Broker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = Logger()
	}
	b, err := embedded.Start(cfg)
	if err != nil {
		t.Fatalf("start embedded broker: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// OpenStore opens a store on brokers, whose new topics get partitions
// partitions, creates topics, and closes the store at the end of the
// test.
func OpenStore(t testing.TB, brokers []string, partitions int, topics ...string) *eventstore.Store {
	t.Helper()
	s, err := eventstore.Open(context.Background(), eventstore.Config{Brokers: brokers, Partitions: partitions, Logger: Logger()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if len(topics) > 0 {
		specs := make([]eventstore.TopicSpec, len(topics))
		for i, topic := range topics {
			specs[i] = eventstore.TopicSpec{Name: topic}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.EnsureTopics(ctx, specs...); err != nil {
			t.Fatalf("ensure topics %v: %v", topics, err)
		}
	}
	return s
}

// NewStore starts a broker of the test's own and opens a store on it with
// topics; see OpenStore.
func NewStore(t testing.TB, partitions int, topics ...string) *eventstore.Store {
	t.Helper()
	return OpenStore(t, StartBroker(t, embedded.Config{}).Addrs(), partitions, topics...)
}

// RunSubscriber runs a subscriber with cfg until the returned stop is
// called or the test ends; stop waits for it to leave the group and fails
// the test if Run failed. Unset, cfg's logger is Logger() and its group
// timeouts and retry backoff are short (6 s session, 300 ms heartbeats,
// 20-500 ms retries).
func RunSubscriber(t testing.TB, s *eventstore.Store, cfg eventstore.SubscriberConfig) (*eventstore.Subscriber, func()) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = Logger()
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout, cfg.RebalanceTimeout, cfg.HeartbeatInterval = 6*time.Second, 6*time.Second, 300*time.Millisecond
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin, cfg.RetryMax = 20*time.Millisecond, 500*time.Millisecond
	}
	sub, err := eventstore.NewSubscriber(s, cfg)
	if err != nil {
		t.Fatalf("new subscriber %s: %v", cfg.Group, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx) }()
	var once sync.Once
	stop := func() {
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
	return sub, stop
}
