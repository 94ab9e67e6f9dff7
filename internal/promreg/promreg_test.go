package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegisterReusesTheExisting(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "attrib_test_total", Help: "test"}
	a := Register(reg, prometheus.NewCounter(opts))
	b := Register(reg, prometheus.NewCounter(opts))
	if a != b {
		t.Fatal("second registration returned a new, unregistered collector")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a different collector type under the same name did not panic")
		}
	}()
	Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "attrib_test_total", Help: "test"}))
}

func TestFactory(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "attrib_factory_total", Help: "test"}
	a := With(reg).Counter(opts)
	b := With(reg).Counter(opts)
	a.Inc()
	b.Inc()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != 1 || families[0].GetMetric()[0].GetCounter().GetValue() != 2 {
		t.Fatalf("two counters of one name from a Factory: gathered %v, want one counter at 2", families)
	}
	// Without a Registerer the collector works, registered nowhere.
	c := With(nil).CounterVec(opts, []string{"x"})
	c.WithLabelValues("y").Inc()
}
