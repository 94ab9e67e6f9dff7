package eventstore_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/eventstore/embedded"
)

// TestSubscriberCountersStartAtZero: a new subscriber's counters exist at 0
// for each of its topics before anything happened, so that an alert on
// their increase sees the first dead letter or failed batch.
func TestSubscriberCountersStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	store, err := eventstore.Open(context.Background(), eventstore.Config{
		Brokers: startBroker(t, embedded.Config{}).Addrs(), Partitions: 1, Logger: testLogger(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	group, topics := uniqueName(t, "group"), []string{uniqueName(t, "a"), uniqueName(t, "b")}
	for _, topic := range topics {
		ensureTopic(t, store, topic, 1)
	}
	if _, err := eventstore.NewSubscriber(store, eventstore.SubscriberConfig{Group: group, Topics: topics, Handler: newCollector().handler()}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]map[string]float64{} // metric -> topic -> value, for group
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var g, topic string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "group":
					g = l.GetValue()
				case "topic":
					topic = l.GetValue()
				}
			}
			if g != group || m.GetCounter() == nil {
				continue
			}
			if seen[mf.GetName()] == nil {
				seen[mf.GetName()] = map[string]float64{}
			}
			seen[mf.GetName()][topic] = m.GetCounter().GetValue()
		}
	}
	for _, name := range []string{
		"attrib_eventstore_consumer_batches_total",
		"attrib_eventstore_consumer_events_total",
		"attrib_eventstore_consumer_handler_errors_total",
		"attrib_eventstore_consumer_commit_errors_total",
		"attrib_eventstore_dead_letters_total",
	} {
		for _, topic := range topics {
			v, ok := seen[name][topic]
			if !ok || v != 0 {
				t.Errorf("%s{group=%q,topic=%q} = %v (present %v), want 0", name, group, topic, v, ok)
			}
		}
	}
}
