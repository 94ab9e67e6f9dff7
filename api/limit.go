package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/attrib-engine/attrib/ratelimit"
)

// Limiter decides whether a caller may make one more request, and if not,
// how long it should wait; a *ratelimit.Policy is one.
type Limiter interface {
	Allow(ctx context.Context, id string) (ok bool, retryAfter time.Duration)
}

// limitKey is the bucket of a caller: one per principal, whichever of its
// tokens it uses (a rotated token and its successor share it), and one
// for the operator.
func limitKey(c Caller) string {
	if c.Role == RoleAdmin {
		return RoleAdmin
	}
	return c.Role + ":" + c.ID
}

// limit takes a token from the caller's bucket; over the limit it sets
// Retry-After and returns the 429, before the handler has decided or
// recorded anything.
func (s *Server) limit(w http.ResponseWriter, r *http.Request, c Caller) error {
	if s.cfg.Limiter == nil {
		return nil
	}
	ok, wait := s.cfg.Limiter.Allow(r.Context(), limitKey(c))
	if ok {
		return nil
	}
	secs := ratelimit.RetryAfterSeconds(wait)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	return &apiError{status: http.StatusTooManyRequests, code: "rate_limited",
		message: "too many requests for this token; nothing was recorded; retry after " + strconv.FormatInt(secs, 10) + " s (Retry-After)"}
}
