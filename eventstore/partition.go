package eventstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
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
	var parts []int
	if n <= len(identity) {
		parts = identity[:n] // the balancer only reads it
	} else {
		parts = make([]int, n)
		for i := range parts {
			parts[i] = i
		}
	}
	return kafka.Murmur2Balancer{Consistent: true}.Balance(kafka.Message{Key: []byte(key)}, parts...)
}

// identity lists the partitions of topics of up to 256 partitions, for
// PartitionOf (which the worker calls for every row and code).
var identity = func() (ids [256]int) {
	for i := range ids {
		ids[i] = i
	}
	return ids
}()

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
	buf := recordBuffers.Get().(*recordBuffer)
	records, err := buf.encode(start, events)
	if err != nil {
		return -1, fmt.Errorf("append to %s/%d: %w", topic, partition, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	res, err := s.client.Produce(ctx, &kafka.ProduceRequest{
		Topic:        topic,
		Partition:    partition,
		RequiredAcks: kafka.RequireAll,
		Compression:  s.cfg.codec,
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
		// Not put back: a request given up on may still be being written.
		s.metrics.appendErrors.WithLabelValues(topic).Inc()
		return -1, fmt.Errorf("append %d events to %s/%d: %w", len(events), topic, partition, err)
	}
	// Answered: the request was written whole, and nothing refers to the
	// buffers any more.
	buf.release()
	s.metrics.appendEvents.WithLabelValues(topic).Add(float64(len(events)))
	s.metrics.appendSeconds.WithLabelValues(topic).Observe(time.Since(start).Seconds())
	return res.BaseOffset, nil
}

// recordBuffer holds the bytes of the records of one append; AppendToPartition
// takes one from recordBuffers and puts it back once its request was
// answered, so that the worker's appends (one record per event it handles)
// do not allocate their size again every time.
type recordBuffer struct{ values, other []byte }

var recordBuffers = sync.Pool{New: func() any { return new(recordBuffer) }}

// maxPooledRecordBuffer is the largest value buffer put back into the
// pool: a rare huge append must not stay in memory.
const maxPooledRecordBuffer = 4 << 20

func (b *recordBuffer) release() {
	if cap(b.values) <= maxPooledRecordBuffer {
		recordBuffers.Put(b)
	}
}

// encode makes the records of events (see schemas.AppendRecordValue):
// values and keys in b's two buffers (grown as needed), and the records'
// Bytes in a slab, so that a record costs no allocation of its own. The
// records refer to b until it is reused.
func (b *recordBuffer) encode(now time.Time, events []schemas.Envelope) ([]kafka.Record, error) {
	type span struct{ start, end int }
	size, small := 0, 0
	for i := range events {
		e := &events[i]
		size += 320 + len(e.EventID) + len(e.Type) + len(e.BrandID) +
			len(e.CausationID) + len(e.CorrelationID) + len(e.Payload)
		small += len(e.AggregateKey)
	}
	values := slices.Grow(b.values[:0], size)
	other := slices.Grow(b.other[:0], small)
	defer func() { b.values, b.other = values, other }()
	// Spans first, slices after: a buffer that grows moves.
	spans := make([]span, 2*len(events)) // value, key
	for i := range events {
		e := &events[i]
		sp := spans[2*i : 2*i+2]
		var err error
		sp[0].start = len(values)
		if values, err = schemas.AppendRecordValue(values, e); err != nil {
			return nil, fmt.Errorf("encode event %d (%s): %w", i, e.Type, err)
		}
		sp[0].end = len(values)
		sp[1].start = len(other)
		other = append(other, e.AggregateKey...)
		sp[1].end = len(other)
	}
	records := make([]kafka.Record, len(events))
	readers := make([]recordBytes, 2*len(events))
	for i := range records {
		sp := spans[2*i : 2*i+2]
		key, value := &readers[2*i], &readers[2*i+1]
		key.Reset(other[sp[1].start:sp[1].end:sp[1].end])
		value.Reset(values[sp[0].start:sp[0].end:sp[0].end])
		records[i] = kafka.Record{Time: now, Key: key, Value: value}
	}
	return records, nil
}

// recordBytes is kafka.NewBytes's reader, allocated in slabs.
type recordBytes struct{ bytes.Reader }

// Close implements kafka.Bytes.
func (*recordBytes) Close() error { return nil }

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
