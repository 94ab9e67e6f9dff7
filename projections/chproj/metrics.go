package chproj

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/internal/promreg"
)

// metrics are the projector's collectors.
type metrics struct {
	events       *prometheus.CounterVec
	rows         *prometheus.CounterVec
	flushes      prometheus.Counter
	flushErrors  prometheus.Counter
	flushSeconds prometheus.Histogram
	flushEvents  prometheus.Histogram
	wmOffset     *prometheus.GaugeVec
	wmRecorded   *prometheus.GaugeVec

	mu   sync.Mutex
	high map[partitionKey]mark // what the gauges show, so they never go back
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promreg.With(reg)
	return &metrics{
		events: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_clickhouse_events_total",
			Help: "Events the ClickHouse projection read, by result: projected, ignored (nothing to project) or rejected (sent to the dead-letter topic). Counted per handled batch, so retried batches count again.",
		}, []string{"result"}),
		rows: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_clickhouse_rows_inserted_total",
			Help: "Rows inserted into ClickHouse by the projection, by table (after keeping the latest version of each row of a flush).",
		}, []string{"table"}),
		flushes: f.Counter(prometheus.CounterOpts{
			Name: "attrib_clickhouse_flushes_total",
			Help: "Successful flushes of the ClickHouse projection: one insert per table with rows, then the watermarks.",
		}),
		flushErrors: f.Counter(prometheus.CounterOpts{
			Name: "attrib_clickhouse_flush_errors_total",
			Help: "Failed flushes: ClickHouse unreachable or refusing, or, for some of their partitions only, the flush of an earlier batch of the partition failed (their marks and watermarks are then not written). The failed batches are retried and nothing of them is committed meanwhile.",
		}),
		flushSeconds: f.Histogram(prometheus.HistogramOpts{
			Name:    "attrib_clickhouse_flush_seconds",
			Help:    "Time to insert one flush into ClickHouse.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		flushEvents: f.Histogram(prometheus.HistogramOpts{
			Name:    "attrib_clickhouse_flush_events",
			Help:    "Events per successful flush.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		wmOffset: f.GaugeVec(prometheus.GaugeOpts{
			Name: "attrib_clickhouse_watermark_offset",
			Help: "Next offset of each partition that the ClickHouse projection has applied (seen by this process).",
		}, []string{"topic", "partition"}),
		wmRecorded: f.GaugeVec(prometheus.GaugeOpts{
			Name: "attrib_clickhouse_watermark_recorded_at_seconds",
			Help: "Latest recorded_at (Unix seconds) of the events the ClickHouse projection has applied, per partition (seen by this process).",
		}, []string{"topic", "partition"}),
		high: make(map[partitionKey]mark),
	}
}

// advance moves the watermark gauges of a partition forward.
func (m *metrics) advance(k partitionKey, w mark) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.high[k]
	if w.next > h.next {
		h.next = w.next
		m.wmOffset.WithLabelValues(k.topic, partitionLabel(k.partition)).Set(float64(h.next))
	}
	if w.lastRecorded.After(h.lastRecorded) {
		h.lastRecorded = w.lastRecorded
		m.wmRecorded.WithLabelValues(k.topic, partitionLabel(k.partition)).Set(float64(h.lastRecorded.UnixNano()) / 1e9)
	}
	m.high[k] = h
}
