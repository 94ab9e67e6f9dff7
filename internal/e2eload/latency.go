package e2eload

import (
	"sort"
	"time"
)

// Ack is one webhook request the engine answered 202: when it was sent,
// when the answer came, and how many events and placements it carried.
type Ack struct {
	Sent, At time.Time
	Events   int
	Placed   int
}

// Poll is one report read: At is when its answer arrived, AsOf the
// engine's X-Attrib-Fresh-As-Of (every event appended before it is in the
// report).
type Poll struct {
	AsOf, At time.Time
}

// Visible returns, for every ack, when the reports were first seen to hold
// its events: the arrival of the first poll whose AsOf is at or after the
// ack (an event appended before the 202 is in every report fresh as of the
// 202's time). The zero time means no poll covered it. polls must be in
// the order they arrived; AsOf never decreases between them.
func Visible(acks []Ack, polls []Poll) []time.Time {
	out := make([]time.Time, len(acks))
	for i, a := range acks {
		j := sort.Search(len(polls), func(j int) bool { return !polls[j].AsOf.Before(a.At) })
		if j < len(polls) {
			out[i] = polls[j].At
		}
	}
	return out
}

// Distribution is a latency distribution, each sample weighted.
type Distribution struct {
	Count              int64
	P50, P90, P99, Max time.Duration
	Mean               time.Duration
	Uncovered          int64 // weight of samples with no value
}

// Sample is a latency and how many events it stands for.
type Sample struct {
	D      time.Duration
	Weight int64
}

// Summarize computes the weighted percentiles of samples (the p-th
// percentile is the smallest latency at or below which at least p% of the
// weight lies).
func Summarize(samples []Sample) Distribution {
	s := append([]Sample(nil), samples...)
	sort.Slice(s, func(i, j int) bool { return s[i].D < s[j].D })
	var d Distribution
	var sum float64
	for _, x := range s {
		d.Count += x.Weight
		sum += float64(x.D) * float64(x.Weight)
	}
	if d.Count == 0 {
		return d
	}
	d.Mean = time.Duration(sum / float64(d.Count))
	d.Max = s[len(s)-1].D
	at := func(p float64) time.Duration {
		need := int64(p*float64(d.Count) + 0.999999)
		var acc int64
		for _, x := range s {
			acc += x.Weight
			if acc >= need {
				return x.D
			}
		}
		return d.Max
	}
	d.P50, d.P90, d.P99 = at(0.50), at(0.90), at(0.99)
	return d
}

// WindowRates are the placements that became visible per second in each
// whole window from start: visible[i] is when acks[i] became visible. The
// last, partial window is left out.
func WindowRates(acks []Ack, visible []time.Time, start time.Time, window time.Duration) []float64 {
	var counts []int64
	var last time.Time
	for i, v := range visible {
		if v.IsZero() {
			continue
		}
		k := int(v.Sub(start) / window)
		for len(counts) <= k {
			counts = append(counts, 0)
		}
		counts[k] += int64(acks[i].Placed)
		if v.After(last) {
			last = v
		}
	}
	full := int(last.Sub(start) / window)
	out := make([]float64, 0, full)
	for k := 0; k < full && k < len(counts); k++ {
		out = append(out, float64(counts[k])/window.Seconds())
	}
	return out
}
