package promreg

import "github.com/prometheus/client_golang/prometheus"

// Factory makes collectors and registers each with its Registerer through
// Register, so that they are shared with any already registered under the
// same description. With a nil Registerer the collectors work but are
// registered nowhere. The zero Factory is such a one.
type Factory struct{ reg prometheus.Registerer }

// With returns the Factory of reg (nil: register nowhere).
func With(reg prometheus.Registerer) Factory { return Factory{reg: reg} }

func register[C prometheus.Collector](f Factory, c C) C {
	if f.reg == nil {
		return c
	}
	return Register(f.reg, c)
}

// Counter makes a registered counter.
func (f Factory) Counter(opts prometheus.CounterOpts) prometheus.Counter {
	return register(f, prometheus.NewCounter(opts))
}

// CounterVec makes a registered counter vector.
func (f Factory) CounterVec(opts prometheus.CounterOpts, labels []string) *prometheus.CounterVec {
	return register(f, prometheus.NewCounterVec(opts, labels))
}

// Gauge makes a registered gauge.
func (f Factory) Gauge(opts prometheus.GaugeOpts) prometheus.Gauge {
	return register(f, prometheus.NewGauge(opts))
}

// GaugeVec makes a registered gauge vector.
func (f Factory) GaugeVec(opts prometheus.GaugeOpts, labels []string) *prometheus.GaugeVec {
	return register(f, prometheus.NewGaugeVec(opts, labels))
}

// Histogram makes a registered histogram.
func (f Factory) Histogram(opts prometheus.HistogramOpts) prometheus.Histogram {
	return register(f, prometheus.NewHistogram(opts))
}

// HistogramVec makes a registered histogram vector.
func (f Factory) HistogramVec(opts prometheus.HistogramOpts, labels []string) *prometheus.HistogramVec {
	return register(f, prometheus.NewHistogramVec(opts, labels))
}
