package embedded_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attrib-engine/attrib/eventstore/embedded"
)

// TestThreeBrokersKeepTheLogOverARestart: a cluster of three brokers
// advertises all three, spreads the partitions' leaders over them, and,
// stopped and started again on the same data directory, holds every
// record it acknowledged, with each partition led by the same broker.
func TestThreeBrokersKeepTheLogOverARestart(t *testing.T) {
	t.Parallel()
	const topic, partitions, records = "three-brokers", 12, 600
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	b1, err := embedded.Start(embedded.Config{DataDir: dir, Brokers: 3, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	client := &kafka.Client{Addr: kafka.TCP(b1.Addrs()...)}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 3}}})
	if err != nil || res.Errors[topic] != nil {
		b1.Close()
		t.Fatalf("create %s: %v %v", topic, err, res)
	}
	before := leaders(ctx, t, b1.Addrs(), topic)
	if spread := map[int]bool{}; len(before) == partitions {
		for _, l := range before {
			spread[l] = true
		}
		if len(spread) < 2 {
			t.Errorf("every partition led by broker %v, want the leaders spread over the brokers", spread)
		}
	}
	w := &kafka.Writer{Addr: kafka.TCP(b1.Addrs()...), Topic: topic, Balancer: &kafka.RoundRobin{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	msgs := make([]kafka.Message, records)
	for i := range msgs {
		msgs[i] = kafka.Message{Value: []byte(strconv.Itoa(i))}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		b1.Close()
		t.Fatalf("write %d records: %v", records, err)
	}
	_ = w.Close()
	b1.Close()

	b2, err := embedded.Start(embedded.Config{DataDir: dir, Brokers: 3, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if after := leaders(ctx, t, b2.Addrs(), topic); !slices.Equal(before, after) {
		t.Errorf("partition leaders %v before the restart, %v after", before, after)
	}
	seen := map[string]bool{}
	for p := range partitions {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: b2.Addrs(), Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		last, err := lastOffset(ctx, b2.Addrs(), topic, p)
		if err != nil {
			t.Fatal(err)
		}
		for n := int64(0); n < last; n++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("partition %d, record %d of %d: %v", p, n, last, err)
			}
			seen[string(m.Value)] = true
		}
		_ = r.Close()
	}
	if len(seen) != records {
		t.Fatalf("read %d distinct records after the restart, want the %d written", len(seen), records)
	}
}

// leaders returns each partition's leader (its node id), by partition.
func leaders(ctx context.Context, t *testing.T, addrs []string, topic string) []int {
	t.Helper()
	meta, err := (&kafka.Client{Addr: kafka.TCP(addrs...)}).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	if len(meta.Brokers) != 3 {
		t.Errorf("metadata names brokers %v, want 3", meta.Brokers)
	}
	out := make([]int, len(meta.Topics[0].Partitions))
	for _, p := range meta.Topics[0].Partitions {
		out[p.ID] = p.Leader.ID
	}
	return out
}

// lastOffset returns the offset after the last record of a partition.
func lastOffset(ctx context.Context, addrs []string, topic string, partition int) (int64, error) {
	res, err := (&kafka.Client{Addr: kafka.TCP(addrs...)}).ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: {kafka.LastOffsetOf(partition)}}})
	if err != nil {
		return 0, err
	}
	po := res.Topics[topic][0]
	return po.LastOffset, po.Error
}
