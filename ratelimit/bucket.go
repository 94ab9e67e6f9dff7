// Package ratelimit limits how often a caller may call: one token bucket
// per caller (a brand on the webhook, a token on the rest of the API),
// kept in Redis so that every API process draws from the same buckets.
//
// The arithmetic is Take, a pure function; Limiter runs the same
// arithmetic in Redis, in a Lua script, one round trip per check at most
// (concurrent checks share a pipeline), one key per bucket (so it works on
// a Redis Cluster unchanged).
//
// A bucket is stored in its GCRA form: one number, the time at which it
// will be full again (its "theoretical arrival time"). A bucket of Burst
// tokens refilled at Rate tokens a second holds, at time now,
// Burst - (full - now) * Rate tokens; taking one pushes full one interval
// (1/Rate seconds) later. No key means a full bucket, and a key expires
// when its bucket is full again, so idle callers cost no memory.
package ratelimit

import (
	"fmt"
	"math"
	"time"
)

// Limit is the limit of one kind of bucket.
type Limit struct {
	// Rate is how many requests a second a caller may make, sustained:
	// the bucket's refill rate. Zero means no limit.
	Rate float64
	// Burst is how many requests a caller with a full bucket may make at
	// once: the bucket's size. At least 1 when Rate is set.
	Burst int
}

// Unlimited reports whether l limits nothing.
func (l Limit) Unlimited() bool { return l.Rate == 0 }

// Validate checks that l is a limit: Rate zero (none) or positive and
// finite, and Burst at least 1 when Rate is set. Its error is a
// *LimitError naming the field.
func (l Limit) Validate() error {
	switch {
	case math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) || l.Rate < 0:
		return &LimitError{Field: "rate", msg: fmt.Sprintf("rate %v: want a positive number of requests a second, or 0 for no limit", l.Rate)}
	case l.Rate > 0 && l.Rate < 1e-6:
		return &LimitError{Field: "rate", msg: fmt.Sprintf("rate %v: below one request in 11 days; use 0 for no limit", l.Rate)}
	case l.Rate > 0 && l.Burst < 1:
		return &LimitError{Field: "burst", msg: fmt.Sprintf("burst %d: want at least 1", l.Burst)}
	case l.Burst > 1e9:
		return &LimitError{Field: "burst", msg: fmt.Sprintf("burst %d: at most 1000000000", l.Burst)}
	}
	return nil
}

// LimitError is what is wrong with a Limit; Field is "rate" or "burst".
type LimitError struct {
	Field string
	msg   string
}

func (e *LimitError) Error() string { return e.msg }

// String describes l ("100/s, burst 2000", or "none").
func (l Limit) String() string {
	if l.Unlimited() {
		return "none"
	}
	return fmt.Sprintf("%g/s, burst %d", l.Rate, l.Burst)
}

// interval is the time, in microseconds, that one token takes to come
// back: 1/Rate seconds.
func (l Limit) interval() float64 { return 1e6 / l.Rate }

// Decision is the answer to one request.
type Decision struct {
	// Allowed: the request may go ahead; it took one token.
	Allowed bool
	// RetryAfter, for a refused request, is how long until a request
	// would be allowed; zero for an allowed one.
	RetryAfter time.Duration
	// Remaining, for an allowed request, is how many more the caller may
	// make at once right after it.
	Remaining int
}

// Take applies one request at now to a bucket that is full again at full
// and returns the decision and the bucket's new full time. Times are Unix
// microseconds; a full time at or before now (0 when the bucket is new)
// is a full bucket. A refused request changes nothing: the returned full
// time is the one given. l must be valid and limited.
//
// The Lua script of Limiter does the same operations in the same order on
// the same IEEE doubles, so that both decide alike to the microsecond;
// the tests hold them to each other.
func Take(l Limit, full, now int64) (d Decision, newFull int64) {
	interval := l.interval()
	base := max(full, now)
	// The explicit float64 conversions forbid fused multiply-adds, which
	// Lua does not do: both must round alike.
	next := float64(base) + interval
	latest := float64(now) + float64(interval*float64(l.Burst))
	if next > latest {
		return Decision{RetryAfter: time.Duration(math.Ceil(next-latest)) * time.Microsecond}, full
	}
	return Decision{Allowed: true, Remaining: int(math.Floor((latest - next) / interval))}, int64(math.Ceil(next))
}

// RetryAfterSeconds is the Retry-After header's value for a wait: whole
// seconds, rounded up, at least 1 (a client told 0 would retry at once
// and be refused again).
func RetryAfterSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
