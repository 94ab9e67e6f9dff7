package notify

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/internal/promreg"
)

// metrics are the Outbox's counters.
type metrics struct {
	sent    prometheus.Counter
	failed  *prometheus.CounterVec
	retried prometheus.Counter
	skipped *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promreg.With(reg)
	return &metrics{
		sent: f.Counter(prometheus.CounterOpts{
			Name: "attrib_email_sent_total",
			Help: "Decision emails the sender accepted.",
		}),
		failed: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_email_failed_total",
			Help: "Decision emails that can never be sent, by cause (invalid_address, refused); each is logged and marked failed.",
		}, []string{"cause"}),
		retried: f.Counter(prometheus.CounterOpts{
			Name: "attrib_email_retries_total",
			Help: "Attempts that failed transiently (directory behind, Redis or mail server unavailable) and are retried with backoff.",
		}),
		skipped: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_email_skipped_total",
			Help: "Decisions not emailed, by reason: settled (sent or failed before: a redelivery or replay) or stale (older than MaxAge).",
		}, []string{"reason"}),
	}
}
