package eventstore

import (
	"context"
	"fmt"
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
	// Progress, when set, is called after every handled batch.
	Progress func(ReplayProgress)
}

// Replay reads topic from the beginning of every partition up to the end it
// had when Replay started, handing batches of one partition at a time to h,
// one call at a time. It commits nothing and joins no group: it is the
// building block of rebuilds, which then hand over to a subscriber.
// Undecodable records are rejected in the batch before h sees it; h decides
// what rejection means for a rebuild (usually: count and skip, as the live
// consumer sent them to its dead-letter topic).
func (s *Store) Replay(ctx context.Context, topic string, h PartitionHandler, opts ReplayOptions) error {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	bounds, err := s.Bounds(ctx, topic)
	if err != nil {
		return fmt.Errorf("replay %s: %w", topic, err)
	}
	prog := ReplayProgress{Topic: topic}
	for _, b := range bounds {
		prog.Total += b.End - b.First
	}
	start := time.Now()
	for _, b := range bounds {
		if b.End <= b.First {
			continue
		}
		if err := s.replayPartition(ctx, topic, b, h, opts, &prog, start); err != nil {
			return fmt.Errorf("replay %s/%d: %w", topic, b.Partition, err)
		}
	}
	return nil
}

func (s *Store) replayPartition(ctx context.Context, topic string, b PartitionBounds, h PartitionHandler, opts ReplayOptions, prog *ReplayProgress, start time.Time) error {
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
			msg := Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: m.Headers, Time: m.Time}
			if err := decodeEnvelope(m.Value, &msg.Envelope); err != nil {
				batch.Reject(len(batch.Messages), err.Error())
			}
			batch.Messages = append(batch.Messages, msg)
			batch.Next = next
			// Do not wait for more than the queue holds when it runs dry.
			if r.Stats().QueueLength == 0 {
				break
			}
		}
		if err := h.Handle(ctx, batch); err != nil {
			return err
		}
		prog.Read += int64(len(batch.Messages))
		prog.Elapsed = time.Since(start)
		if opts.Progress != nil {
			opts.Progress(*prog)
		}
	}
	return nil
}
