package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/internal/promreg"
)

// Outcomes of a webhook request, the values of the "outcome" label.
const (
	OutcomeAccepted      = "accepted"       // 202, at least one event appended
	OutcomeDuplicateOnly = "duplicate_only" // 202, every event was a duplicate
	OutcomeInvalid       = "invalid"        // 400 (or 405)
	OutcomeUnauthorized  = "unauthorized"   // 401
	OutcomeTooLarge      = "too_large"      // 413
	OutcomeUnavailable   = "unavailable"    // 503, nothing recorded
	OutcomeInternal      = "internal"       // 500, a bug
)

var outcomes = []string{OutcomeAccepted, OutcomeDuplicateOnly, OutcomeInvalid, OutcomeUnauthorized, OutcomeTooLarge, OutcomeUnavailable, OutcomeInternal}

// metrics are the webhook's Prometheus collectors; the label children are
// resolved once so the hot path does no label lookup.
type metrics struct {
	requests   map[string]prometheus.Counter
	accepted   prometheus.Counter
	duplicates prometheus.Counter
	markErrors prometheus.Counter
	seconds    prometheus.Observer
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promreg.With(reg)
	requests := f.CounterVec(prometheus.CounterOpts{
		Name: "attrib_ingest_webhook_requests_total",
		Help: "Order webhook requests, by outcome (accepted, duplicate_only, invalid, unauthorized, too_large, unavailable, internal).",
	}, []string{"outcome"})
	accepted := f.Counter(prometheus.CounterOpts{
		Name: "attrib_ingest_webhook_events_accepted_total",
		Help: "Shop order events appended to the log by the webhook.",
	})
	duplicates := f.Counter(prometheus.CounterOpts{
		Name: "attrib_ingest_webhook_duplicates_total",
		Help: "Shop order events the webhook dropped as re-sent (already appended, or twice in one request).",
	})
	markErrors := f.Counter(prometheus.CounterOpts{
		Name: "attrib_ingest_webhook_dedupe_mark_errors_total",
		Help: "Requests whose events were appended but could not be marked as seen (a re-send will be appended again; consumers dedupe by event id).",
	})
	seconds := f.Histogram(prometheus.HistogramOpts{
		Name:    "attrib_ingest_webhook_request_seconds",
		Help:    "Time to answer one order webhook request.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	})
	m := &metrics{requests: make(map[string]prometheus.Counter, len(outcomes)),
		accepted: accepted, duplicates: duplicates, markErrors: markErrors, seconds: seconds}
	for _, o := range outcomes {
		m.requests[o] = requests.WithLabelValues(o)
	}
	return m
}
