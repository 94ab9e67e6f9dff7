package worker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/internal/promreg"
	"github.com/attrib-engine/attrib/schemas"
)

// metrics are the worker's collectors.
type metrics struct {
	events        *prometheus.CounterVec
	rows          *prometheus.CounterVec
	indexWait     prometheus.Histogram
	indexTimeouts prometheus.Counter
	offerWaits    prometheus.Counter
	holds         prometheus.Counter
	holdErrors    prometheus.Counter
	roundTrips    prometheus.Histogram
	batchSeconds  prometheus.Histogram
	corrupt       prometheus.Counter
	stateCache    *prometheus.CounterVec
	codeCache     *prometheus.CounterVec
	rewinds       prometheus.Counter
	evicted       prometheus.Counter
	evictErrors   prometheus.Counter
	cold          *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promreg.With(reg)
	return &metrics{
		events: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_attribution_events_total",
			Help: "Order events handled by the attribution worker, by result: applied (new), duplicate (seen before, ignored) or poison (sent to the dead-letter topic).",
		}, []string{"result"}),
		rows: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_attribution_rows_total",
			Help: "Attribution rows appended to attrib.attributions, by event type.",
		}, []string{"type"}),
		indexWait: f.Histogram(prometheus.HistogramOpts{
			Name:    "attrib_attribution_index_wait_seconds",
			Help:    "How long a batch with orders to decide for the first time waited for the code index to catch up with their placed times (0 when it already had).",
			Buckets: []float64{0, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
		indexTimeouts: f.Counter(prometheus.CounterOpts{
			Name: "attrib_attribution_index_wait_timeouts_total",
			Help: "Batches decided although the code index had not caught up within IndexWait: their first decisions may miss codes confirmed just before the orders. Alert on any.",
		}),
		offerWaits: f.Counter(prometheus.CounterOpts{
			Name: "attrib_attribution_offer_waits_total",
			Help: "Batches that failed (and are retried) because a winning code's offer was not in the offer index within IndexWait.",
		}),
		holds: f.Counter(prometheus.CounterOpts{
			Name: "attrib_attribution_holds_emitted_total",
			Help: "order.hold_expired events the worker appended to attrib.orders.",
		}),
		holdErrors: f.Counter(prometheus.CounterOpts{
			Name: "attrib_attribution_hold_errors_total",
			Help: "Hold-expiry ticks that failed (Redis or Kafka unavailable); the due holds are retried at the next tick.",
		}),
		roundTrips: f.Histogram(prometheus.HistogramOpts{
			Name:    "attrib_attribution_redis_round_trips",
			Help:    "Redis round trips of one handled batch (state load, index watermark polls and lookups, state write).",
			Buckets: []float64{1, 2, 3, 4, 5, 6, 8, 12, 20, 50, 100},
		}),
		batchSeconds: f.Histogram(prometheus.HistogramOpts{
			Name:    "attrib_attribution_batch_seconds",
			Help:    "Time to handle one batch of order events, index waits included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}),
		stateCache: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_attribution_state_cache_total",
			Help: "Order states a batch found in its partition handler's cache (hit) or read from Redis (miss).",
		}, []string{"result"}),
		codeCache: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_attribution_code_cache_total",
			Help: "Codes of a batch's placements the worker's code cache answered (hit) or the code index in Redis did (miss), when the catalog's end offsets were known.",
		}, []string{"result"}),
		evicted: f.Counter(prometheus.CounterOpts{
			Name: "attrib_attribution_states_evicted_total",
			Help: "Settled order states the worker moved from Redis to its cold store after their retention.",
		}),
		evictErrors: f.Counter(prometheus.CounterOpts{
			Name: "attrib_attribution_evict_errors_total",
			Help: "Eviction ticks that failed (Redis or the cold store unavailable); the states stay in Redis and are retried at the next tick.",
		}),
		cold: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_attribution_cold_lookups_total",
			Help: "Orders missing from Redis that the worker looked up in its cold store, by result: loaded (an evicted order, brought back) or new (none there).",
		}, []string{"result"}),
		rewinds: f.Counter(prometheus.CounterOpts{
			Name: "attrib_attribution_state_rewinds_total",
			Help: "Partitions whose consumption started before the group's committed offset because the worker's state in Redis had lost writes (its applied offset was behind): the events since are read again. Any increase means Redis lost acknowledged writes; see the log.",
		}),
		corrupt: f.Counter(prometheus.CounterOpts{
			Name: "attrib_attribution_stored_events_skipped_total",
			Help: "Stored order events the core refused when an order's state was rebuilt (a rebuild would skip them too); each is logged.",
		}),
	}
}

// batchStats is what handling one batch counted, for its metrics.
type batchStats struct {
	applied, duplicates, poison int
	roundTrips                  int
	stateHits, stateMisses      int
	// codesCounted says the code cache could be asked (codeHits and
	// codeMisses count its answers).
	codesCounted         bool
	codeHits, codeMisses int
	// rows counts the rows emitted by type, in the order of rowTypes.
	rows [len(rowTypes)]int
	// indexWaited: orders were decided for the first time, after waiting
	// indexWait for the code index.
	indexWaited   bool
	indexWait     time.Duration
	indexTimedOut bool
	offerTimedOut bool
	// coldLookups counts the orders looked up in the cold store,
	// coldLoads those found there.
	coldLookups, coldLoads int
}

// rowTypes are the types of the rows the worker emits.
var rowTypes = [...]string{schemas.TypeOrderAttributed, schemas.TypeOrderEarningsAdjusted, schemas.TypeOrderUnattributed}

// countRow counts an emitted row.
func (s *batchStats) countRow(ev schemas.Event) {
	t := ev.EventType()
	for i, rt := range rowTypes {
		if rt == t {
			s.rows[i]++
			return
		}
	}
}

// observe records a handled batch that began at start. The waits for the
// index count whether the batch then failed or not; everything else counts
// only once the batch succeeded (a failed batch is retried whole).
func (m *metrics) observe(s *batchStats, start time.Time, err error) {
	if s.indexWaited {
		m.indexWait.Observe(s.indexWait.Seconds())
	}
	if s.indexTimedOut {
		m.indexTimeouts.Inc()
	}
	if s.offerTimedOut {
		m.offerWaits.Inc()
	}
	if err != nil {
		return
	}
	m.events.WithLabelValues("applied").Add(float64(s.applied))
	m.events.WithLabelValues("duplicate").Add(float64(s.duplicates))
	m.events.WithLabelValues("poison").Add(float64(s.poison))
	for i, n := range s.rows {
		if n > 0 {
			m.rows.WithLabelValues(rowTypes[i]).Add(float64(n))
		}
	}
	m.stateCache.WithLabelValues("hit").Add(float64(s.stateHits))
	m.stateCache.WithLabelValues("miss").Add(float64(s.stateMisses))
	if s.codesCounted {
		m.codeCache.WithLabelValues("hit").Add(float64(s.codeHits))
		m.codeCache.WithLabelValues("miss").Add(float64(s.codeMisses))
	}
	if s.coldLookups > 0 {
		m.cold.WithLabelValues("loaded").Add(float64(s.coldLoads))
		m.cold.WithLabelValues("new").Add(float64(s.coldLookups - s.coldLoads))
	}
	m.roundTrips.Observe(float64(s.roundTrips))
	m.batchSeconds.Observe(time.Since(start).Seconds())
}
