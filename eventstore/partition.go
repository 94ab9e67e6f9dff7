package eventstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attrib-engine/attrib/schemas"
)

// PartitionOf returns the partition that Append puts key on, in a topic of
// n partitions: murmur2, as the Java client and franz-go do. Two topics with
// the same partition count place one key on the same partition index, which
// is what lets a single owner of a partition of one topic read the matching
// partition of another.
func PartitionOf(key string, n int) int {
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	return kafka.Murmur2Balancer{Consistent: true}.Balance(kafka.Message{Key: []byte(key)}, parts...)
}

// Partitions returns the partition count of topic.
func (s *Store) Partitions(ctx context.Context, topic string) (int, error) {
	meta, err := s.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		return 0, fmt.Errorf("metadata of %s: topic missing (%v)", topic, meta.Topics)
	}
	return len(meta.Topics[0].Partitions), nil
}

// AppendToPartition writes events, in order, as one batch to one partition
// of topic and returns the offset of the first once all in-sync replicas
// acknowledged it. The batch is one produce request: it must stay under the
// brokers' message.max.bytes (1 MiB by default); callers with more split it. Every event must belong on that partition
// (PartitionOf(AggregateKey) == partition): it is the single writer's way to
// learn where its events landed, which Append cannot tell.
func (s *Store) AppendToPartition(ctx context.Context, topic string, partition int, events ...schemas.Envelope) (int64, error) {
	if len(events) == 0 {
		return -1, nil
	}
	start := time.Now()
	records := make([]kafka.Record, len(events))
	for i := range events {
		e := &events[i]
		value, err := schemas.MarshalEnvelope(nil, e)
		if err != nil {
			return -1, fmt.Errorf("append to %s/%d: encode event %d (%s): %w", topic, partition, i, e.Type, err)
		}
		records[i] = kafka.Record{
			Time:  start,
			Key:   kafka.NewBytes([]byte(e.AggregateKey)),
			Value: kafka.NewBytes(value),
			Headers: []kafka.Header{
				{Key: HeaderEventID, Value: []byte(e.EventID)},
				{Key: HeaderEventType, Value: []byte(e.Type)},
				{Key: HeaderSchemaVersion, Value: []byte(strconv.Itoa(e.SchemaVersion))},
			},
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	res, err := s.client.Produce(ctx, &kafka.ProduceRequest{
		Topic:        topic,
		Partition:    partition,
		RequiredAcks: kafka.RequireAll,
		Records:      kafka.NewRecordReader(records...),
	})
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err == nil {
		for _, rerr := range res.RecordErrors {
			err = rerr
			break
		}
	}
	if err != nil {
		s.metrics.appendErrors.WithLabelValues(topic).Inc()
		return -1, fmt.Errorf("append %d events to %s/%d: %w", len(events), topic, partition, err)
	}
	s.metrics.appendEvents.WithLabelValues(topic).Add(float64(len(events)))
	s.metrics.appendSeconds.WithLabelValues(topic).Observe(time.Since(start).Seconds())
	return res.BaseOffset, nil
}

// ReplayPartition reads one partition of topic from its first offset up to
// the end it has when called, handing batches to h; see Replay.
func (s *Store) ReplayPartition(ctx context.Context, topic string, partition int, h PartitionHandler, opts ReplayOptions) error {
	bounds, err := s.Bounds(ctx, topic)
	if err != nil {
		return fmt.Errorf("replay %s/%d: %w", topic, partition, err)
	}
	for _, b := range bounds {
		if b.Partition != partition {
			continue
		}
		if opts.MaxBatch <= 0 {
			opts.MaxBatch = 1000
		}
		prog := ReplayProgress{Topic: topic, Total: b.End - b.First}
		if b.End <= b.First {
			return nil
		}
		start := time.Now()
		progress := func(n int) {
			prog.Read += int64(n)
			prog.Elapsed = time.Since(start)
			if opts.Progress != nil {
				opts.Progress(prog)
			}
		}
		if err := s.replayPartition(ctx, topic, b, h, opts, progress); err != nil {
			return fmt.Errorf("replay %s/%d: %w", topic, partition, err)
		}
		return nil
	}
	return fmt.Errorf("replay %s/%d: no such partition", topic, partition)
}
