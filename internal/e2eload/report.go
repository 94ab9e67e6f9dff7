package e2eload

import (
	"fmt"
	"io"
	"sort"
	"time"
)

// WriteText writes the run's figures, one per line, as `attrib loadgen
// webhook` prints them and `make bench-e2e` keeps them.
func (r *Result) WriteText(w io.Writer) error {
	c := r.Config
	mode := "as fast as possible"
	if c.Rate > 0 {
		mode = fmt.Sprintf("%.0f orders/s", c.Rate)
	}
	sendSpan := r.End.Sub(r.Start).Seconds()
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("run %s: %s for %s, %d brands, %d creators, batches of up to %d events, %d senders",
		c.Run, mode, c.Duration, len(c.Brands), len(c.Creators), c.Batch, c.Senders)
	p("sent: %d orders (%d unattributed), %d events (%.2f per order, %d duplicates) in %.1f s: %.0f orders/s, %.0f events/s",
		r.Orders, r.Unattributed, r.Events, float64(r.Events)/max(float64(r.Orders), 1), r.DupsSent,
		sendSpan, float64(r.Orders)/max(sendSpan, 1e-9), float64(r.Events)/max(sendSpan, 1e-9))
	p("engine answered: %d requests, %d events accepted, %d duplicates; retried: %d after 429, %d after errors; refused: %d",
		r.Requests, r.Accepted, r.Duplicates, r.Retried429, r.RetriedErrors, r.Refused)
	if r.FellBehind > 0 {
		p("fell behind: after %.1f s the placements not yet answered stood for more than %s at the rate; no new orders from then on", r.FellBehind.Seconds(), c.MaxBehind)
	}
	if r.FirstError != "" {
		p("first error: %s", r.FirstError)
	}
	if r.Visible.IsZero() {
		p("end to end: NOT everything visible within %s (%d events never seen)", c.FinalWait, r.Visibility.Uncovered)
	} else {
		span := r.Visible.Sub(r.Start).Seconds()
		p("end to end: every order visible %.1f s after the first send: %.0f orders/s, %.0f events/s",
			span, float64(r.Orders)/span, float64(r.Events)/span)
	}
	if len(r.WindowRates) > 0 {
		s := append([]float64(nil), r.WindowRates...)
		sort.Float64s(s)
		p("visible orders/s per 10 s window: min %.0f, median %.0f, max %.0f (%d windows)", s[0], s[len(s)/2], s[len(s)-1], len(s))
	}
	dist := func(name string, d Distribution) {
		p("%s: p50 %s, p90 %s, p99 %s, max %s, mean %s (%d events)", name, ms(d.P50), ms(d.P90), ms(d.P99), ms(d.Max), ms(d.Mean), d.Count)
	}
	dist("send to 202", r.Send)
	dist("202 to visible in reports", r.Visibility)
	p("report reads: %d freshness polls, %d orders read back one by one", r.Polls, r.Probes)
	names := make([]string, 0, len(r.CPU))
	for n := range r.CPU {
		names = append(names, n)
	}
	sort.Strings(names)
	var total time.Duration
	for _, n := range names {
		total += r.CPU[n]
	}
	wall := r.Visible
	if wall.IsZero() {
		wall = r.End
	}
	for _, n := range names {
		t := r.CPU[n]
		p("cpu %-18s %7.1f s  %6.1f µs/order  %5.2f cores", n, t.Seconds(), float64(t.Microseconds())/max(float64(r.Orders), 1),
			t.Seconds()/max(wall.Sub(r.Start).Seconds(), 1e-9))
	}
	p("cpu %-18s %7.1f s  %6.1f µs/order", "all measured", total.Seconds(), float64(total.Microseconds())/max(float64(r.Orders), 1))
	for n, e := range r.CPUError {
		p("cpu %s: not measured: %s", n, e)
	}
	switch {
	case r.Visible.IsZero():
		p("check: NOT RUN: the reports did not catch up within %s (the engine is behind, which is not the same as lost; raise --final-wait)", c.FinalWait)
	case len(r.Mismatches) == 0 && len(r.ProbeErrors) == 0 && !r.Visible.IsZero():
		p("check: nothing lost: the reports of all %d creators total exactly the generator's sums (orders, per status, earnings per currency)", r.Checked)
	default:
		p("check: FAILED: %d differences in %d creators' totals, %d orders read back wrong", len(r.Mismatches), r.Checked, len(r.ProbeErrors))
		for i, m := range append(r.ProbeErrors, r.Mismatches...) {
			if i == 30 {
				p("  ...")
				break
			}
			p("  %s", m)
		}
	}
	return nil
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}
