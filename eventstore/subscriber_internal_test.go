package eventstore

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// doneHandler is a PipelinedHandler whose batches all succeed at once.
type doneHandler struct{}

func (doneHandler) Window() int                                { return 2 }
func (doneHandler) Handle(context.Context, *Batch) error       { return nil }
func (doneHandler) Begin(context.Context, *Batch) func() error { return func() error { return nil } }

// TestPipelinedNothingCommittedAfterAnUncommittedBatch: when a batch that
// succeeded is not committed after all (the generation ended and its
// commit was refused), the batch after it, which succeeded too, is not
// committed either: a commit would skip the first one's offsets.
func TestPipelinedNothingCommittedAfterAnUncommittedBatch(t *testing.T) {
	s := &Subscriber{
		store:     &Store{metrics: newMetrics(nil)},
		cfg:       SubscriberConfig{Group: "g", RetryMin: time.Millisecond, RetryMax: time.Millisecond, DrainTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		committed: make(map[string]map[int]int64),
	}
	gctx, endGeneration := context.WithCancel(context.Background())
	defer endGeneration()
	var (
		mu      sync.Mutex
		commits []int64
	)
	cm := &committer{commit: func(offsets map[string]map[int]int64) error {
		mu.Lock()
		defer mu.Unlock()
		commits = append(commits, offsets["t"][0])
		if len(commits) == 1 {
			endGeneration() // a rebalance while the first commit is in flight
			return errors.New("rebalance in progress")
		}
		return nil
	}}
	a := Assignment{Group: "g", Topic: "t", Partition: 0}
	newEntry := func(offset int64, prev *inflight) *inflight {
		return &inflight{
			raw:   []kafka.Message{{Topic: "t", Partition: 0, Offset: offset}},
			batch: &Batch{Topic: "t", Partition: 0, Next: offset + 1},
			start: time.Now(), prev: prev, handled: make(chan struct{}), settled: make(chan struct{}),
		}
	}
	first := newEntry(0, nil)
	second := newEntry(1, first)
	var begin sync.Mutex
	var wg sync.WaitGroup
	for _, e := range []*inflight{second, first} {
		wg.Go(func() {
			s.settle(gctx, context.Background(), cm, a, s.cfg.Logger, doneHandler{}, &begin, e, func() error { return nil })
		})
	}
	wg.Wait()
	if first.committed || second.committed {
		t.Errorf("committed: first %v, second %v; want neither", first.committed, second.committed)
	}
	if len(commits) != 1 || commits[0] != 1 {
		t.Errorf("commit requests %v, want only the first batch's [1]", commits)
	}
	if c := s.Committed()["t"]; len(c) != 0 {
		t.Errorf("Committed() = %v, want nothing", c)
	}
}
