package ratelimit

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// t0 is the cases' start, a realistic Unix time in microseconds: the
// arithmetic must hold at that magnitude, where doubles keep whole
// microseconds but nothing finer.
const t0 = int64(1_796_000_000_000_000)

// step is one request of a case, at t0+at microseconds.
type step struct {
	at   int64
	want Decision
}

func allowed(remaining int) Decision { return Decision{Allowed: true, Remaining: remaining} }
func refused(wait time.Duration) Decision {
	return Decision{RetryAfter: wait}
}

const sec = int64(time.Second / time.Microsecond)

// takeCases are sequences of requests on one new bucket, with the decision
// each gets. The Redis tests run them through the Lua script too.
var takeCases = []struct {
	name  string
	limit Limit
	steps []step
}{
	{
		name:  "a full bucket allows a burst, then refuses until a token is back",
		limit: Limit{Rate: 1, Burst: 3},
		steps: []step{
			{0, allowed(2)}, {0, allowed(1)}, {0, allowed(0)},
			{0, refused(time.Second)},
			{sec / 2, refused(time.Second / 2)},
			{sec - 1, refused(time.Microsecond)},
			{sec, allowed(0)},
			{sec, refused(time.Second)},
		},
	},
	{
		name:  "a refused request takes nothing",
		limit: Limit{Rate: 1, Burst: 1},
		steps: []step{
			{0, allowed(0)},
			{1, refused(time.Second - time.Microsecond)},
			{2, refused(time.Second - 2*time.Microsecond)},
			{sec - 1, refused(time.Microsecond)},
			{sec, allowed(0)},
		},
	},
	{
		name:  "an idle bucket refills up to its burst, not beyond",
		limit: Limit{Rate: 10, Burst: 2},
		steps: []step{
			{0, allowed(1)}, {0, allowed(0)}, {0, refused(100 * time.Millisecond)},
			{100 * sec, allowed(1)}, {100 * sec, allowed(0)}, {100 * sec, refused(100 * time.Millisecond)},
		},
	},
	{
		name:  "a partly refilled bucket",
		limit: Limit{Rate: 2, Burst: 4},
		steps: []step{
			{0, allowed(3)}, {0, allowed(2)}, {0, allowed(1)}, {0, allowed(0)},
			// one second later two tokens are back
			{sec, allowed(1)}, {sec, allowed(0)}, {sec, refused(500 * time.Millisecond)},
		},
	},
	{
		name:  "a steady caller at the rate is never refused",
		limit: Limit{Rate: 4, Burst: 1},
		steps: []step{
			{0, allowed(0)}, {sec / 4, allowed(0)}, {sec / 2, allowed(0)}, {3 * sec / 4, allowed(0)}, {sec, allowed(0)},
			{sec + 1, refused(250*time.Millisecond - time.Microsecond)},
		},
	},
	{
		name:  "a rate that is no whole number of microseconds rounds against the caller",
		limit: Limit{Rate: 3, Burst: 1},
		steps: []step{
			// the bucket is full again at t0 + ceil(333333.33) µs
			{0, allowed(0)},
			{333_333, refused(time.Microsecond)},
			{333_334, allowed(0)},
			{666_667, refused(time.Microsecond)},
			{666_668, allowed(0)},
		},
	},
	{
		name:  "a slow rate",
		limit: Limit{Rate: 1.0 / 60, Burst: 2},
		steps: []step{
			{0, allowed(1)}, {0, allowed(0)}, {0, refused(time.Minute)},
			{59 * sec, refused(time.Second)}, {60 * sec, allowed(0)},
		},
	},
	{
		name:  "a large burst",
		limit: Limit{Rate: 100, Burst: 2000},
		steps: []step{
			{0, allowed(1999)}, {0, allowed(1998)}, {sec / 100, allowed(1998)}, {sec, allowed(1999)},
		},
	},
}

func TestTake(t *testing.T) {
	for _, tc := range takeCases {
		t.Run(tc.name, func(t *testing.T) {
			var full int64
			for i, s := range tc.steps {
				var got Decision
				got, full = Take(tc.limit, full, t0+s.at)
				if got != s.want {
					t.Fatalf("request %d at +%dµs: got %+v, want %+v", i, s.at, got, s.want)
				}
			}
		})
	}
}

func TestTakeRefusalKeepsTheBucket(t *testing.T) {
	l := Limit{Rate: 1, Burst: 1}
	_, full := Take(l, 0, t0)
	d, after := Take(l, full, t0+10)
	if d.Allowed || after != full {
		t.Fatalf("refused request: got %+v and full time %d, want refused and %d unchanged", d, after, full)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tc := range []struct {
		wait time.Duration
		want int64
	}{
		{0, 1},
		{time.Microsecond, 1},
		{999 * time.Millisecond, 1},
		{time.Second, 1},
		{time.Second + time.Microsecond, 2},
		{59*time.Second + 1, 60},
	} {
		if got := RetryAfterSeconds(tc.wait); got != tc.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", tc.wait, got, tc.want)
		}
	}
}

func TestLimitValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit Limit
		err   string // "" for valid
		field string
	}{
		{"none", Limit{}, "", ""},
		{"none with a burst", Limit{Burst: 10}, "", ""},
		{"a limit", Limit{Rate: 100, Burst: 2000}, "", ""},
		{"a fraction", Limit{Rate: 0.5, Burst: 1}, "", ""},
		{"negative rate", Limit{Rate: -1, Burst: 1}, "rate -1", "rate"},
		{"no burst", Limit{Rate: 1}, "burst 0: want at least 1", "burst"},
		{"negative burst", Limit{Rate: 1, Burst: -3}, "burst -3", "burst"},
		{"a rate too slow to mean anything", Limit{Rate: 1e-9, Burst: 1}, "use 0 for no limit", "rate"},
		{"a huge burst", Limit{Rate: 1, Burst: 2e9}, "at most 1000000000", "burst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.limit.Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("got %v, want valid", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("got %v, want an error with %q", err, tc.err)
			}
			var le *LimitError
			if tc.err != "" && (!errors.As(err, &le) || le.Field != tc.field) {
				t.Fatalf("got %#v, want a *LimitError of field %q", err, tc.field)
			}
		})
	}
}
