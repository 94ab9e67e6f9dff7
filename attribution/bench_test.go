package attribution

import (
	"testing"
	"time"
)

// benchOrder is a typical order history: placement, partial refund,
// confirmation, late refund.
func benchOrder() []input {
	return []input{
		placed("p", t0, "2500.00", "АNNА10", "BOB"),
		refunded("r1", at(day), "500.00"),
		confirmed("ok", at(15*day)),
		refunded("r2", at(20*day), "100.00"),
	}
}

// processOrder runs one order through Apply, Decide and Emitted, as the
// worker does per event.
func processOrder(ins []input, codes Codes, offers Offers) error {
	var st OrderState
	for _, in := range ins {
		if _, err := Apply(&st, in.env, in.ev); err != nil {
			return err
		}
		if out, ok := Decide(&st, codes, offers); ok {
			if err := Emitted(&st, out.Event); err != nil {
				return err
			}
		}
	}
	return nil
}

// BenchmarkApplyDecide measures Apply+Decide(+Emitted) per order event; one
// op is one event.
func BenchmarkApplyDecide(b *testing.B) {
	codes, offers := world()
	ins := benchOrder()
	b.ReportAllocs()
	start := time.Now()
	n := 0
	for n < b.N {
		if err := processOrder(ins, codes, offers); err != nil {
			b.Fatal(err)
		}
		n += len(ins)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkApplyDecideParallel is BenchmarkApplyDecide on every core
// (-cpu 2 for the worker's 2-core target); one op is one event.
func BenchmarkApplyDecideParallel(b *testing.B) {
	codes, offers := world()
	ins := benchOrder()
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for {
			for range ins {
				if !pb.Next() {
					return
				}
			}
			if err := processOrder(ins, codes, offers); err != nil {
				b.Error(err) // not Fatal: this is not the benchmark's goroutine
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
