package eventstore

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/internal/promreg"
)

// metrics are the Prometheus collectors of a Store and its subscribers.
type metrics struct {
	appendEvents  *prometheus.CounterVec
	appendErrors  *prometheus.CounterVec
	appendSeconds *prometheus.HistogramVec
	batches       *prometheus.CounterVec
	events        *prometheus.CounterVec
	handlerErrors *prometheus.CounterVec
	commitErrors  *prometheus.CounterVec
	batchSeconds  *prometheus.HistogramVec
	lag           *prometheus.GaugeVec
	deadLetters   *prometheus.CounterVec
	rebalances    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promreg.With(reg)
	return &metrics{
		appendEvents: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_eventstore_append_events_total",
			Help: "Events durably appended to the log, by topic.",
		}, []string{"topic"}),
		appendErrors: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_eventstore_append_errors_total",
			Help: "Appends that failed (nothing acknowledged), by topic.",
		}, []string{"topic"}),
		appendSeconds: f.HistogramVec(prometheus.HistogramOpts{
			Name:    "attrib_eventstore_append_seconds",
			Help:    "Latency of one Append call until the brokers acknowledged it.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"topic"}),
		batches: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_eventstore_consumer_batches_total",
			Help: "Batches handled and committed, by consumer group and topic.",
		}, []string{"group", "topic"}),
		events: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_eventstore_consumer_events_total",
			Help: "Events handled and committed, by consumer group and topic.",
		}, []string{"group", "topic"}),
		handlerErrors: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_eventstore_consumer_handler_errors_total",
			Help: "Handler attempts that failed and will be retried, by consumer group and topic.",
		}, []string{"group", "topic"}),
		commitErrors: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_eventstore_consumer_commit_errors_total",
			Help: "Offset commits that failed (the batch will be redelivered), by consumer group and topic.",
		}, []string{"group", "topic"}),
		batchSeconds: f.HistogramVec(prometheus.HistogramOpts{
			Name:    "attrib_eventstore_consumer_batch_seconds",
			Help:    "Time to handle and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"group", "topic"}),
		lag: f.GaugeVec(prometheus.GaugeOpts{
			Name: "attrib_eventstore_consumer_lag",
			Help: "Events in the partition after the last committed offset, as of the last fetch.",
		}, []string{"group", "topic", "partition"}),
		deadLetters: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_eventstore_dead_letters_total",
			Help: "Events sent to a dead-letter topic, by consumer group and origin topic.",
		}, []string{"group", "topic"}),
		rebalances: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_eventstore_consumer_generations_total",
			Help: "Consumer group generations joined (each rebalance starts one).",
		}, []string{"group"}),
	}
}

// startGroup makes group's counters of each topic exist at 0, so that its
// first event, failure or dead letter is an increase that rate() and
// increase() see (a series born at 1 shows no increase).
func (m *metrics) startGroup(group string, topics []string) {
	for _, t := range topics {
		m.batches.WithLabelValues(group, t)
		m.events.WithLabelValues(group, t)
		m.handlerErrors.WithLabelValues(group, t)
		m.commitErrors.WithLabelValues(group, t)
		m.deadLetters.WithLabelValues(group, t)
	}
}
