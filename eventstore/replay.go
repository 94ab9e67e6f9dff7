package eventstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReplayProgress reports how far a replay has read.
type ReplayProgress struct {
	Topic string
	// Read and Total count records of every partition of Topic; Total is
	// fixed when the replay starts.
	Read, Total int64
	Elapsed     time.Duration
}

// ReplayOptions tunes Replay.
type ReplayOptions struct {
	// MaxBatch is the most messages per handler call. Default 1000.
	MaxBatch int
	// Progress, when set, is called after every handled batch (one call
	// at a time).
	Progress func(ReplayProgress)
	// Concurrency is how many partitions are read at once; with more than
	// one, the handler must be safe for concurrent use (each call still
	// holds the messages of one partition, in order). Default 1.
	Concurrency int
}

// Replay reads topic from the beginning of every partition up to the end it
// had when Replay started, handing batches of one partition at a time to h,
// one call at a time. It commits nothing and joins no group: it is the
// building block of rebuilds, which then hand over to a subscriber.
// Undecodable records are rejected in the batch before h sees it; h decides
// what rejection means for a rebuild (usually: count and skip, as the live
// consumer sent them to its dead-letter topic).
func (s *Store) Replay(ctx context.Context, topic string, h PartitionHandler, opts ReplayOptions) error {
	_, err := s.ReplayFrom(ctx, topic, nil, h, opts)
	return err
}

// ReplayFrom is Replay starting at the offsets in from (by partition; a
// partition missing from it, or an offset below the partition's first,
// starts at its first). It returns the offset it stopped at in every
// partition, the end the partition had when ReplayFrom started: a later
// ReplayFrom from there reads exactly what was appended since.
func (s *Store) ReplayFrom(ctx context.Context, topic string, from map[int]int64, h PartitionHandler, opts ReplayOptions) (map[int]int64, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	bounds, err := s.Bounds(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", topic, err)
	}
	prog := ReplayProgress{Topic: topic}
	ends := make(map[int]int64, len(bounds))
	for i, b := range bounds {
		if o, ok := from[b.Partition]; ok && o > b.First {
			bounds[i].First = min(o, b.End)
		}
		prog.Total += bounds[i].End - bounds[i].First
		ends[b.Partition] = b.End
	}
	start := time.Now()
	var (
		mu   sync.Mutex // guards prog and the calls of opts.Progress
		todo = make(chan PartitionBounds, len(bounds))
		errs = make([]error, len(bounds))
		wg   sync.WaitGroup
	)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, b := range bounds {
		if b.End > b.First {
			todo <- b
		}
	}
	close(todo)
	progress := func(n int) {
		mu.Lock()
		defer mu.Unlock()
		prog.Read += int64(n)
		prog.Elapsed = time.Since(start)
		if opts.Progress != nil {
			opts.Progress(prog)
		}
	}
	for range max(opts.Concurrency, 1) {
		wg.Go(func() {
			for b := range todo {
				if err := s.replayPartition(rctx, topic, b, h, opts, progress); err != nil {
					errs[b.Partition%len(errs)] = fmt.Errorf("replay %s/%d: %w", topic, b.Partition, err)
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Progress != nil && prog.Total == 0 {
		prog.Elapsed = time.Since(start)
		opts.Progress(prog)
	}
	return ends, nil
}

func (s *Store) replayPartition(ctx context.Context, topic string, b PartitionBounds, h PartitionHandler, opts ReplayOptions, progress func(int)) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:         s.brokers,
		Dialer:          &kafka.Dialer{ClientID: s.cfg.ClientID, Timeout: s.cfg.DialTimeout},
		Topic:           topic,
		Partition:       b.Partition,
		MinBytes:        1,
		MaxBytes:        16 << 20,
		MaxWait:         250 * time.Millisecond,
		QueueCapacity:   opts.MaxBatch,
		ReadLagInterval: -1,
	})
	defer r.Close()
	if err := r.SetOffset(b.First); err != nil {
		return err
	}
	next := b.First
	for next < b.End {
		batch := &Batch{Topic: topic, Partition: b.Partition}
		for next < b.End && len(batch.Messages) < opts.MaxBatch {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				return err
			}
			next = m.Offset + 1
			// Decoded in place (see newBatch).
			batch.Messages = append(batch.Messages, Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: m.Headers, Time: m.Time})
			if err := decodeEnvelope(m.Key, m.Value, &batch.Messages[len(batch.Messages)-1].Envelope); err != nil {
				batch.Reject(len(batch.Messages)-1, err.Error())
			}
			batch.Next = next
			// Do not wait for more than the queue holds when it runs dry.
			if r.Stats().QueueLength == 0 {
				break
			}
		}
		if err := h.Handle(ctx, batch); err != nil {
			return err
		}
		progress(len(batch.Messages))
	}
	return nil
}
