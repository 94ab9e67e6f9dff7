package e2eload

import (
	"testing"
	"time"
)

func TestVisible(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	polls := []Poll{{AsOf: at(100), At: at(300)}, {AsOf: at(300), At: at(450)}, {AsOf: at(450), At: at(700)}}
	cases := []struct {
		name string
		ack  time.Time
		want time.Time
	}{
		{"before the first fresh time", at(50), at(300)},
		{"exactly at a fresh time", at(300), at(450)},
		{"between two", at(301), at(700)},
		{"after the last", at(451), time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Visible([]Ack{{At: tc.ack}}, polls)[0]
			if !got.Equal(tc.want) {
				t.Errorf("visible at %v, want %v", got.Sub(t0), tc.want.Sub(t0))
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name               string
		samples            []Sample
		p50, p90, p99, max time.Duration
		count              int64
	}{
		{"none", nil, 0, 0, 0, 0, 0},
		{"one", []Sample{{5 * ms, 1}}, 5 * ms, 5 * ms, 5 * ms, 5 * ms, 1},
		{"weights count", []Sample{{1 * ms, 98}, {10 * ms, 1}, {100 * ms, 1}}, 1 * ms, 1 * ms, 10 * ms, 100 * ms, 100},
		{"unsorted, uniform", func() []Sample {
			var s []Sample
			for i := 100; i >= 1; i-- {
				s = append(s, Sample{time.Duration(i) * ms, 1})
			}
			return s
		}(), 50 * ms, 90 * ms, 99 * ms, 100 * ms, 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Summarize(tc.samples)
			if d.P50 != tc.p50 || d.P90 != tc.p90 || d.P99 != tc.p99 || d.Max != tc.max || d.Count != tc.count {
				t.Errorf("got p50 %v p90 %v p99 %v max %v count %d; want %v %v %v %v %d",
					d.P50, d.P90, d.P99, d.Max, d.Count, tc.p50, tc.p90, tc.p99, tc.max, tc.count)
			}
		})
	}
}

func TestWindowRates(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := func(x float64) time.Time { return t0.Add(time.Duration(x * float64(time.Second))) }
	acks := []Ack{{Placed: 100}, {Placed: 50}, {Placed: 30}, {Placed: 7}, {Placed: 1000}}
	vis := []time.Time{s(1), s(9), s(12), s(25), {}}
	got := WindowRates(acks, vis, t0, 10*time.Second)
	want := []float64{15, 3} // the third window (20-30 s) is partial
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("WindowRates = %v, want %v", got, want)
	}
}
