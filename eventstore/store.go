package eventstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attrib-engine/attrib/schemas"
)

// Header names of the records written before the current record layout
// (see schemas.AppendRecordValue), which repeated the value's event_id,
// type and schema_version. Records appended now carry no headers of their
// own: the value is the one place of each field.
const (
	HeaderEventID       = "event-id"
	HeaderEventType     = "event-type"
	HeaderSchemaVersion = "schema-version"
)

// Store appends to and reads from the Kafka log. It is safe for concurrent
// use. Close it when done.
type Store struct {
	cfg     Config
	brokers []string
	writer  *kafka.Writer
	client  *kafka.Client
	metrics *metrics
}

// Open validates cfg, checks that the brokers answer within cfg.DialTimeout,
// and returns a Store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	transport := &kafka.Transport{
		ClientID:    cfg.ClientID,
		DialTimeout: cfg.DialTimeout,
		MetadataTTL: 30 * time.Second,
	}
	s := &Store{
		cfg:     cfg,
		brokers: append([]string(nil), cfg.Brokers...),
		client: &kafka.Client{
			Addr:      kafka.TCP(cfg.Brokers...),
			Timeout:   cfg.WriteTimeout,
			Transport: transport,
		},
		writer: &kafka.Writer{
			Addr: kafka.TCP(cfg.Brokers...),
			// Murmur2 places keys on the same partitions as the Java client
			// and franz-go do, so other producers can share our topics.
			Balancer:     &kafka.Murmur2Balancer{},
			RequiredAcks: kafka.RequireAll,
			Compression:  cfg.codec,
			BatchTimeout: cfg.BatchTimeout,
			// kafka-go preallocates BatchSize messages for every batch, so
			// this must stay modest; 1000 lets the largest Append (a webhook
			// batch of 1000) go out as one request per partition.
			BatchSize:              1000,
			BatchBytes:             1 << 20,
			MaxAttempts:            5,
			WriteBackoffMin:        50 * time.Millisecond,
			WriteBackoffMax:        time.Second,
			WriteTimeout:           cfg.WriteTimeout,
			ReadTimeout:            cfg.WriteTimeout,
			AllowAutoTopicCreation: false,
			Transport:              transport,
		},
		metrics: newMetrics(cfg.Registerer),
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if err := s.Ping(pctx); err != nil {
		_ = s.writer.Close()
		return nil, err
	}
	return s, nil
}

// Brokers returns the bootstrap addresses the store was opened with.
func (s *Store) Brokers() []string { return append([]string(nil), s.brokers...) }

// Ping checks that the cluster answers a metadata request.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}}); err != nil {
		return fmt.Errorf("kafka brokers %v unreachable: %w", s.brokers, err)
	}
	return nil
}

// Close flushes and closes the writer.
func (s *Store) Close() error {
	return s.writer.Close()
}

// Append writes events to topic, each as a record keyed by its
// AggregateKey with the value schemas.AppendRecordValue writes, and returns
// only once every one is acknowledged by all in-sync replicas (acks=all), or
// an error.
//
// Events with one aggregate key keep their order. Append is not atomic across
// partitions: after an error some events may have been written. Callers
// retry the whole call, and consumers dedupe by event id, so a retry is
// harmless.
func (s *Store) Append(ctx context.Context, topic string, events ...schemas.Envelope) error {
	if len(events) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(events))
	for i := range events {
		e := &events[i]
		if e.AggregateKey == "" {
			return fmt.Errorf("append to %s: event %d (%s %s) has no aggregate key", topic, i, e.Type, e.EventID)
		}
		value, err := schemas.AppendRecordValue(nil, e)
		if err != nil {
			return fmt.Errorf("append to %s: encode event %d (%s): %w", topic, i, e.Type, err)
		}
		msgs[i] = kafka.Message{Topic: topic, Key: []byte(e.AggregateKey), Value: value}
	}
	return s.write(ctx, topic, msgs)
}

// write sends msgs to topic synchronously and records metrics.
func (s *Store) write(ctx context.Context, topic string, msgs []kafka.Message) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	err := s.writer.WriteMessages(ctx, msgs...)
	if err != nil {
		s.metrics.appendErrors.WithLabelValues(topic).Inc()
		var werr kafka.WriteErrors
		if errors.As(err, &werr) {
			return fmt.Errorf("append %d events to %s: %d failed, first: %w", len(msgs), topic, werr.Count(), firstErr(werr))
		}
		return fmt.Errorf("append %d events to %s: %w", len(msgs), topic, err)
	}
	s.metrics.appendEvents.WithLabelValues(topic).Add(float64(len(msgs)))
	s.metrics.appendSeconds.WithLabelValues(topic).Observe(time.Since(start).Seconds())
	return nil
}

func firstErr(errs kafka.WriteErrors) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// PartitionBounds are the first and the next offset of one partition: the
// partition holds the records [First, End).
type PartitionBounds struct {
	Partition int
	First     int64
	End       int64
}

// Bounds returns the current bounds of every partition of topic, sorted by
// partition.
func (s *Store) Bounds(ctx context.Context, topic string) ([]PartitionBounds, error) {
	meta, err := s.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(meta.Topics) != 1 {
		return nil, fmt.Errorf("metadata of %s: %d topics in answer", topic, len(meta.Topics))
	}
	if meta.Topics[0].Error != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, meta.Topics[0].Error)
	}
	reqs := make([]kafka.OffsetRequest, 0, 2*len(meta.Topics[0].Partitions))
	for _, p := range meta.Topics[0].Partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	res, err := s.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := make([]PartitionBounds, 0, len(meta.Topics[0].Partitions))
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		out = append(out, PartitionBounds{Partition: po.Partition, First: po.FirstOffset, End: po.LastOffset})
	}
	slices.SortFunc(out, func(a, b PartitionBounds) int { return a.Partition - b.Partition })
	return out, nil
}

// GroupLag returns, for every partition of topic, how many records lie after
// the group's committed offset (all of them when the group committed none).
func (s *Store) GroupLag(ctx context.Context, group, topic string) (map[int]int64, error) {
	bounds, err := s.Bounds(ctx, topic)
	if err != nil {
		return nil, err
	}
	committed, err := s.client.ConsumerOffsets(ctx, kafka.TopicAndGroup{Topic: topic, GroupId: group})
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s on %s: %w", group, topic, err)
	}
	lag := make(map[int]int64, len(bounds))
	for _, b := range bounds {
		pos, ok := committed[b.Partition]
		if !ok || pos < b.First {
			pos = b.First
		}
		lag[b.Partition] = max(b.End-pos, 0)
	}
	return lag, nil
}
