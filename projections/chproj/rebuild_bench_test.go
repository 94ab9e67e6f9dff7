package chproj_test

import (
	"context"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/projections/chproj"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
	"github.com/attrib-engine/attrib/schemas"
)

// BenchmarkRebuildReplay measures the replay of `attrib rebuild
// clickhouse`: the attribution topic read back from the embedded broker
// (8 partitions, two at a time) into a projector on a fresh database,
// with the rebuild's batch settings. b.N is the number of events.
func BenchmarkRebuildReplay(b *testing.B) {
	r := newRig(b, 8)
	envs := benchEvents(b, b.N)
	for i := 0; i < len(envs); i += 1000 {
		r.append(schemas.TopicAttributions, envs[i:min(i+1000, len(envs))]...)
	}
	conn, db := readmodeltest.Migrated(b)
	p := newProjector(b, conn, db, func(c *chproj.Config) { c.BatchRows, c.BatchWait = 20000, 5*time.Millisecond })
	b.ResetTimer()
	start := time.Now()
	var batches int
	_, err := r.store.ReplayFrom(context.Background(), schemas.TopicAttributions, nil, p, eventstore.ReplayOptions{
		MaxBatch: 20000, Concurrency: 2,
		Progress: func(eventstore.ReplayProgress) { batches++ },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/float64(max(batches, 1)), "events/batch")
}
