package chproj

import (
	"context"
	"fmt"
	"time"

	"github.com/attrib-engine/attrib/readmodel"
)

// Watermark returns the next offset of the partition that the projection
// has applied: every event of the partition below it is in the tables (or
// was rejected to the dead-letter topic). 0 when nothing is applied. It
// reads ClickHouse, so it answers for whichever process projected the
// partition. An event appended at offset o is visible to readers once
// Watermark > o.
func (p *Projector) Watermark(ctx context.Context, topic string, partition int) (int64, error) {
	var next uint64
	err := p.conn.QueryRow(ctx, "SELECT max(next_offset) FROM "+p.db+"."+readmodel.TableWatermarks+
		" WHERE projection = ? AND topic = ? AND kafka_partition = ?", Group, topic, uint32(partition)).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("clickhouse projection: watermark of %s/%d: %w", topic, partition, err)
	}
	return int64(next), nil
}

// PartitionWatermark is how far the projection has applied one partition.
type PartitionWatermark struct {
	Topic     string
	Partition int
	// Next is the next offset to apply.
	Next int64
	// LastRecordedAt is the latest recorded_at of the events applied
	// (seconds; zero when unknown).
	LastRecordedAt time.Time
}

// Watermarks returns the watermark of every partition the projection has
// applied something of, sorted by topic and partition.
func (p *Projector) Watermarks(ctx context.Context) ([]PartitionWatermark, error) {
	rows, err := p.conn.Query(ctx, "SELECT topic, kafka_partition, max(next_offset), max(last_recorded_at) FROM "+p.db+"."+readmodel.TableWatermarks+
		" WHERE projection = ? GROUP BY topic, kafka_partition ORDER BY topic, kafka_partition", Group)
	if err != nil {
		return nil, fmt.Errorf("clickhouse projection: watermarks: %w", err)
	}
	defer rows.Close()
	var out []PartitionWatermark
	for rows.Next() {
		var (
			w    PartitionWatermark
			part uint32
			next uint64
		)
		if err := rows.Scan(&w.Topic, &part, &next, &w.LastRecordedAt); err != nil {
			return nil, fmt.Errorf("clickhouse projection: watermarks: %w", err)
		}
		w.Partition, w.Next = int(part), int64(next)
		if w.LastRecordedAt.Unix() <= 0 {
			w.LastRecordedAt = time.Time{}
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse projection: watermarks: %w", err)
	}
	return out, nil
}

// WaitFor waits until the event at offset of the partition is applied
// (Watermark > offset), polling every 20 ms, or until ctx ends: the
// read-your-writes wait of the API after an append.
func (p *Projector) WaitFor(ctx context.Context, topic string, partition int, offset int64) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		next, err := p.Watermark(ctx, topic, partition)
		if err == nil && next > offset {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("clickhouse projection: wait for %s/%d offset %d: %w (last error: %v)", topic, partition, offset, ctx.Err(), err)
			}
			return fmt.Errorf("clickhouse projection: wait for %s/%d offset %d: %w (applied up to %d)", topic, partition, offset, ctx.Err(), next)
		case <-t.C:
		}
	}
}
