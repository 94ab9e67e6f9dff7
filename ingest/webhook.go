// Package ingest receives the order events of brands' shops: the signed
// webhook POST /v1/webhooks/orders of API.md. It authenticates the request
// (HMAC-SHA256 over "<t>.<raw body>" with the brand's secret, a 5-minute
// window), validates every event by hand (the first bad event and field
// named, a bad batch refused whole), drops events the brand already sent,
// appends the rest to schemas.TopicOrders, and answers 202 only once they
// are durable in the log.
//
// The path is built to be cheap, because shops retry: no lookup per request
// for the secret (CachedSecrets), one Redis round trip to check for
// duplicates and one to mark the new events, a hand-written JSON parser, and
// envelopes built without a second JSON Schema pass
// (schemas.NewEnvelopeValidated; the tests show the hand validation refuses
// everything the schemas refuse).
//
// The shop platforms' own webhooks (POST /v1/webhooks/{platform}/{brand_id},
// ShopWebhook) enter the same path after their own signature and their
// adapter (package connectors).
//
// Its throughput and what was tried to reach it are in docs/performance.md.
package ingest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/internal/httpbody"
	"github.com/attrib-engine/attrib/ratelimit"
	"github.com/attrib-engine/attrib/schemas"
)

// Appender appends events to the log durably; *eventstore.Store is one.
type Appender interface {
	Append(ctx context.Context, topic string, events ...schemas.Envelope) error
}

// Limiter decides whether a brand may make one more request, and if not,
// how long it should wait; a *ratelimit.Policy is one.
type Limiter interface {
	Allow(ctx context.Context, id string) (ok bool, retryAfter time.Duration)
}

// Config configures a Webhook. Log, Secrets and Dedupe are required; every
// other field has a default.
type Config struct {
	// Log receives the events, on schemas.TopicOrders.
	Log Appender
	// Secrets finds brands' webhook secrets; wrap a lookup in a
	// CachedSecrets so that requests do not each cost one. When it is a
	// KeyringSource, a signature by a brand's previous secret is accepted
	// until the end of its grace after a rotation.
	Secrets SecretSource
	// Dedupe remembers the shop events already appended.
	Dedupe Deduper
	// Now is the clock (signature window, recorded_at). Default time.Now.
	Now func() time.Time
	// MaxBodyBytes bounds a request body; a larger one is refused with 413.
	// Default 4 MiB, room for MaxEvents events of about 4 KB.
	MaxBodyBytes int64
	// Window is how far a signature's timestamp may be from Now, either
	// way. Default 5 minutes.
	Window time.Duration
	// Logger receives operational logs. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the webhook's metrics. Nil: kept, not registered.
	Registerer prometheus.Registerer
	// Limiter, when set, limits each brand's requests. It is asked once
	// the signature is verified, so that requests nobody signed cannot
	// drain a brand's bucket, and before the body is parsed or anything
	// is recorded. Nil: no limit.
	Limiter Limiter
}

// Defaults of Config.
const (
	DefaultMaxBodyBytes = 4 << 20
	DefaultWindow       = 5 * time.Minute
)

// Validate checks the required fields and fills in defaults.
func (c *Config) Validate() error {
	if c.Log == nil || c.Secrets == nil || c.Dedupe == nil {
		return errors.New("ingest: Log, Secrets and Dedupe are required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Webhook is the http.Handler of POST /v1/webhooks/orders. It is safe for
// concurrent use.
//
// Answers: 202 {"accepted": n, "duplicates": m} once the n new events are
// durable in the log (m counts events already appended before, and repeats
// of an event_id within the request); 400 naming the first bad field
// ("events[3].amount", or "amount" for a one-event body); 401 for a missing,
// malformed, wrong or stale signature or an unknown brand (one message for
// the last two, so it does not tell whether a brand exists); 413 for a body
// over MaxBodyBytes, which the shop can read even while it is still sending
// (see httpbody.Discard); 429 with Retry-After when the brand is over its
// rate limit (nothing recorded); 503 when the log, the dedupe store or the secret
// lookup is down, in which case nothing was recorded and the shop retries.
//
// A shop's event_id identifies its event: a re-send is a duplicate even if
// its content changed (a correction is a new event with a new event_id).
//
// "Nothing recorded" holds in effect rather than to the byte: an append
// that fails part-way may have written the events of some partitions
// (eventstore.Append is not atomic across partitions). None of them is
// marked as seen, so the shop's retry appends them again, with the same
// event ids, because an envelope's EventID is derived from (brand, shop
// event id), and consumers drop the repeats by event id. The same holds for
// two retries racing past the dedupe check, and for a mark that fails after
// a successful append (answered 202: the events are durable).
type Webhook struct {
	cfg Config
	log *slog.Logger
	m   *metrics
	// decoy signs for unknown brands, so that they take as long to refuse
	// as a wrong signature of a known one.
	decoy string
	macs  macs
	bufs  sync.Pool
}

// New validates cfg and returns a Webhook.
func New(cfg Config) (*Webhook, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	return &Webhook{cfg: cfg, log: cfg.Logger, m: newMetrics(cfg.Registerer), decoy: hex.EncodeToString(b[:])}, nil
}

// response is one answer: its status, the error body's fields, and the
// outcome label.
type response struct {
	status   int
	code     string
	message  string
	field    string
	outcome  string
	accepted int
	dups     int
	// retryAfter is the Retry-After of a 429.
	retryAfter time.Duration
	// delivery, when set, is what a shop platform's connector shows of
	// this answer as its last delivery (test, ignored); otherwise it
	// follows from the status and the counts.
	delivery string
}

func refuse(status int, code, outcome, message string) response {
	return response{status: status, code: code, outcome: outcome, message: message}
}

const msgBadSignature = "invalid signature or unknown brand"

// ServeHTTP handles one webhook request.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	correlationID := schemas.NewEventID()
	// Canonical keys set in place: Header.Set would canonicalise them
	// again, on every request.
	rw.Header()["X-Correlation-Id"] = []string{correlationID}
	w.answer(rw, w.serve(rw, r, correlationID), http.StatusAccepted, start)
}

// answer writes res, a recorded one with status ok and the counts body,
// and records the request's outcome and time since start.
func (w *Webhook) answer(rw http.ResponseWriter, res response, ok int, start time.Time) {
	if res.status == http.StatusAccepted {
		rw.Header()["Content-Type"] = contentTypeJSON
		rw.WriteHeader(ok)
		buf := make([]byte, 0, 48)
		buf = append(buf, `{"accepted":`...)
		buf = strconv.AppendInt(buf, int64(res.accepted), 10)
		buf = append(buf, `,"duplicates":`...)
		buf = strconv.AppendInt(buf, int64(res.dups), 10)
		buf = append(buf, "}\n"...)
		_, _ = rw.Write(buf)
	} else {
		writeError(rw, res)
	}
	w.m.requests[res.outcome].Inc()
	w.m.seconds.Observe(time.Since(start).Seconds())
}

// contentTypeJSON is the Content-Type of every answer, shared: net/http
// copies header values when it writes them, and a handler that adds one
// appends to a full slice, which copies it.
var contentTypeJSON = []string{"application/json"}

// errorBody is the error shape of API.md:
// {"error": {"code": "invalid_field", "message": "...", "field": "amount"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeError(rw http.ResponseWriter, res response) {
	body, _ := json.Marshal(errorBody{Error: errorDetail{Code: res.code, Message: res.message, Field: res.field}})
	rw.Header().Set("Content-Type", "application/json")
	switch res.status {
	case http.StatusServiceUnavailable:
		rw.Header().Set("Retry-After", "1")
	case http.StatusTooManyRequests:
		rw.Header().Set("Retry-After", strconv.FormatInt(ratelimit.RetryAfterSeconds(res.retryAfter), 10))
	case http.StatusMethodNotAllowed:
		rw.Header().Set("Allow", http.MethodPost)
	}
	rw.WriteHeader(res.status)
	_, _ = rw.Write(append(body, '\n'))
}

func (w *Webhook) serve(rw http.ResponseWriter, r *http.Request, correlationID string) response {
	if r.Method != http.MethodPost {
		return refuse(http.StatusMethodNotAllowed, "method_not_allowed", OutcomeInvalid, "use POST")
	}
	brandID := r.Header.Get(HeaderBrandID)
	if brandID == "" {
		return refuse(http.StatusUnauthorized, "unauthorized", OutcomeUnauthorized, "the X-Brand-Id header is required")
	}
	sigHeader := r.Header.Get(HeaderSignature)
	if sigHeader == "" {
		return refuse(http.StatusUnauthorized, "unauthorized", OutcomeUnauthorized,
			`the X-Signature header is required: t=<unix seconds>,v1=<hex HMAC-SHA256(webhook secret, "<t>.<raw body>")>`)
	}
	sig, ok := parseSignature(sigHeader)
	if !ok {
		return refuse(http.StatusUnauthorized, "unauthorized", OutcomeUnauthorized,
			`malformed X-Signature header: want t=<unix seconds>,v1=<64 hex digits of HMAC-SHA256(webhook secret, "<t>.<raw body>")>`)
	}
	now := w.cfg.Now()
	// Both ways: a timestamp from the future would stretch the window in
	// which a captured request can be replayed.
	if skew := sig.skew(now); skew > w.cfg.Window {
		return refuse(http.StatusUnauthorized, "unauthorized", OutcomeUnauthorized, fmt.Sprintf(
			"signature timestamp t=%s is %s away from the server's time (t=%d); at most %s either way is accepted: sign with the current time",
			sig.ts, skew, now.Unix(), w.cfg.Window))
	}
	if !validBrandID(brandID) {
		return refuse(http.StatusUnauthorized, "unauthorized", OutcomeUnauthorized, msgBadSignature)
	}

	buf, res, ok := w.readBody(rw, r)
	if !ok {
		return res
	}
	defer w.putBuf(buf)
	body := buf.b

	if res, ok := w.authenticate(r.Context(), brandID, &sig, body, now); !ok {
		return res
	}
	if res, limited := w.limit(r.Context(), brandID); limited {
		return res
	}

	events, ferr := parseBody(string(body))
	if ferr != nil {
		return response{status: http.StatusBadRequest, code: "invalid_field", outcome: OutcomeInvalid, message: ferr.message, field: ferr.field}
	}
	return w.record(r.Context(), brandID, events, now, correlationID, "")
}

// reloader is a secret source that can look a brand's keyring up again
// (CachedSecrets).
type reloader interface {
	Reload(ctx context.Context, brandID string) (Keyring, bool, error)
}

// authenticate checks the signature against the brand's secrets valid at
// now: the current one, and the previous one during its grace after a
// rotation. When none verifies and the keyring came from a cache, it is
// looked up again once (a rotation made in another process), at most once
// per CacheConfig.ReloadInterval per brand.
func (w *Webhook) authenticate(ctx context.Context, brandID string, sig *signature, body []byte, now time.Time) (response, bool) {
	unavailable := func(err error) (response, bool) {
		w.log.Warn("webhook: secret lookup failed", "brand", brandID, "err", err)
		return refuse(http.StatusServiceUnavailable, "unavailable", OutcomeUnavailable,
			"cannot check signatures right now; nothing was recorded; retry later"), false
	}
	ring, known, err := keyringOf(ctx, w.cfg.Secrets, brandID)
	if err != nil {
		return unavailable(err)
	}
	if !known {
		sig.verify(&w.macs, w.decoy, body)
		return refuse(http.StatusUnauthorized, "unauthorized", OutcomeUnauthorized, msgBadSignature), false
	}
	if w.verifyRing(sig, ring, body, now) {
		return response{}, true
	}
	if rl, ok := w.cfg.Secrets.(reloader); ok {
		fresh, known, err := rl.Reload(ctx, brandID)
		if err != nil {
			return unavailable(err)
		}
		if known && fresh != ring && w.verifyRing(sig, fresh, body, now) {
			return response{}, true
		}
	}
	return refuse(http.StatusUnauthorized, "unauthorized", OutcomeUnauthorized, msgBadSignature), false
}

// verifyRing reports whether the signature is by a secret of ring valid at
// now.
func (w *Webhook) verifyRing(sig *signature, ring Keyring, body []byte, now time.Time) bool {
	if sig.verify(&w.macs, ring.Current, body) {
		return true
	}
	prev, ok := ring.previousAt(now)
	return ok && sig.verify(&w.macs, prev, body)
}

// limit asks the Limiter whether the brand may make this request; when
// not, it returns the 429.
func (w *Webhook) limit(ctx context.Context, brandID string) (response, bool) {
	if w.cfg.Limiter == nil {
		return response{}, false
	}
	ok, wait := w.cfg.Limiter.Allow(ctx, brandID)
	if ok {
		return response{}, false
	}
	res := refuse(http.StatusTooManyRequests, "rate_limited", OutcomeRateLimited, fmt.Sprintf(
		"too many requests for this brand; nothing was recorded; retry after %d s (Retry-After)", ratelimit.RetryAfterSeconds(wait)))
	res.retryAfter = wait
	return res, true
}

// validBrandID reports whether a brand id is one that could exist: 1 to 200
// printable ASCII characters. Anything else is an unknown brand, refused
// before any lookup.
func validBrandID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// bodyBuf is a pooled body buffer.
type bodyBuf struct{ b []byte }

// readBody reads the raw body, once, up to MaxBodyBytes. A larger body is
// refused, after httpbody.Discard, so that the shop reads the 413.
func (w *Webhook) readBody(rw http.ResponseWriter, r *http.Request) (*bodyBuf, response, bool) {
	limit := w.cfg.MaxBodyBytes
	tooLarge := func(started bool) response {
		httpbody.Discard(rw, r, started)
		return refuse(http.StatusRequestEntityTooLarge, "too_large", OutcomeTooLarge,
			fmt.Sprintf("body larger than %d bytes; send at most %d events per request", limit, MaxEvents))
	}
	if r.ContentLength > limit {
		return nil, tooLarge(false), false
	}
	buf, _ := w.bufs.Get().(*bodyBuf)
	if buf == nil {
		buf = &bodyBuf{}
	}
	size := r.ContentLength
	if size < 0 {
		size = 4096
	}
	if int64(cap(buf.b)) < size+1 {
		buf.b = make([]byte, 0, size+512)
	}
	b := buf.b[:0]
	body := http.MaxBytesReader(rw, r.Body, limit)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			buf.b = b
			w.putBuf(buf)
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge(true), false
			}
			return nil, refuse(http.StatusBadRequest, "invalid_field", OutcomeInvalid, "body: could not be read: "+err.Error()), false
		}
	}
	buf.b = b
	return buf, response{}, true
}

// putBuf returns a body buffer to the pool, unless it is large: a burst of
// big batches should not pin megabytes per connection.
func (w *Webhook) putBuf(buf *bodyBuf) {
	if cap(buf.b) <= 1<<20 {
		w.bufs.Put(buf)
	}
}

// EventID returns the envelope event id of a shop event: the hex of the
// first 16 bytes of SHA-256("<brand>\x00<shop event id>"). Being derived,
// not random, it is the same for every copy of an event the shop re-sends,
// so consumers drop copies that pass the dedupe check (racing retries, a
// failed mark).
func EventID(brandID, shopEventID string) string {
	h := sha256.New()
	h.Write([]byte(brandID))
	h.Write([]byte{0})
	h.Write([]byte(shopEventID))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// record appends the events the brand had not sent before and answers.
// deliveryKey, when not empty, is the dedupe key of the delivery as a
// whole (a shop platform's duplicate key of its event): once marked, a
// delivery with it records nothing, every event counted as a duplicate.
func (w *Webhook) record(ctx context.Context, brandID string, events []shopEvent, now time.Time, correlationID, deliveryKey string) response {
	dups := 0
	unique := make([]int, 0, len(events))
	keys := make([]string, 0, len(events)+1)
	var inBatch map[string]struct{}
	if len(events) > 1 {
		inBatch = make(map[string]struct{}, len(events))
	}
	for i := range events {
		if inBatch != nil {
			if _, dup := inBatch[events[i].EventID]; dup {
				dups++
				continue
			}
			inBatch[events[i].EventID] = struct{}{}
		}
		unique = append(unique, i)
		keys = append(keys, DedupeKey(brandID, events[i].EventID))
	}

	if deliveryKey != "" {
		keys = append(keys, deliveryKey)
	}
	seen, err := w.cfg.Dedupe.Seen(ctx, keys)
	if err != nil {
		w.log.Warn("webhook: dedupe check failed", "brand", brandID, "events", len(keys), "err", err)
		return refuse(http.StatusServiceUnavailable, "unavailable", OutcomeUnavailable,
			"cannot check for duplicates right now; nothing was recorded; retry later")
	}
	if deliveryKey != "" {
		keys = keys[:len(keys)-1]
		if seen[len(keys)] {
			w.m.duplicates.Add(float64(len(events)))
			return response{status: http.StatusAccepted, outcome: OutcomeDuplicateOnly, dups: len(events)}
		}
	}
	envs := make([]schemas.Envelope, 0, len(unique))
	fresh := keys[:0:0]
	for j, i := range unique {
		if seen[j] {
			dups++
			continue
		}
		env, err := envelope(brandID, &events[i], now, correlationID)
		if err != nil { // a bug: the event passed validation
			w.log.Error("webhook: build envelope", "brand", brandID, "event_id", events[i].EventID, "err", err)
			return refuse(http.StatusInternalServerError, "internal", OutcomeInternal, "internal error; it has been logged")
		}
		envs = append(envs, env)
		fresh = append(fresh, keys[j])
	}
	w.m.duplicates.Add(float64(dups))
	if len(envs) == 0 {
		return response{status: http.StatusAccepted, outcome: OutcomeDuplicateOnly, dups: dups}
	}

	// Once the append has started it is finished, even if the shop hangs
	// up: an append cut short may still land, and it could not be marked.
	actx := context.WithoutCancel(ctx)
	if err := w.cfg.Log.Append(actx, schemas.TopicOrders, envs...); err != nil {
		w.log.Warn("webhook: append failed", "brand", brandID, "events", len(envs), "correlation_id", correlationID, "err", err)
		return refuse(http.StatusServiceUnavailable, "unavailable", OutcomeUnavailable,
			"the event log is unavailable; nothing was recorded; retry later")
	}
	w.m.accepted.Add(float64(len(envs)))
	mctx, cancel := context.WithTimeout(actx, 5*time.Second)
	defer cancel()
	if deliveryKey != "" {
		fresh = append(fresh, deliveryKey)
	}
	if err := w.cfg.Dedupe.Mark(mctx, fresh); err != nil {
		// The events are durable: the answer is 202. A re-send of them
		// will be appended again, and dropped by consumers by event id.
		w.m.markErrors.Inc()
		w.log.Warn("webhook: events appended but not marked as seen", "brand", brandID, "events", len(fresh), "err", err)
	}
	return response{status: http.StatusAccepted, outcome: OutcomeAccepted, accepted: len(envs), dups: dups}
}

// envelope makes the log envelope of a validated shop event: keyed by
// order, the shop's occurred_at as OccurredAt and now as RecordedAt (a late
// event never re-dates its order: the attribution core uses the placement's
// time), and an event id derived from (brand, shop event id).
func envelope(brandID string, ev *shopEvent, now time.Time, correlationID string) (schemas.Envelope, error) {
	var p schemas.Event
	switch ev.Type {
	case schemas.TypeOrderPlaced:
		p = schemas.OrderPlaced{OrderID: ev.OrderID, BrandID: brandID, ShopEventID: ev.EventID,
			PromoCodes: ev.PromoCodes, Amount: ev.Amount, Currency: ev.Currency, Country: ev.Country}
	case schemas.TypeOrderConfirmed:
		p = schemas.OrderConfirmed{OrderID: ev.OrderID, BrandID: brandID, ShopEventID: ev.EventID}
	case schemas.TypeOrderCancelled:
		p = schemas.OrderCancelled{OrderID: ev.OrderID, BrandID: brandID, ShopEventID: ev.EventID}
	case schemas.TypeOrderRefunded:
		p = schemas.OrderRefunded{OrderID: ev.OrderID, BrandID: brandID, ShopEventID: ev.EventID, RefundAmount: ev.RefundAmount}
	default:
		return schemas.Envelope{}, fmt.Errorf("unknown event type %q", ev.Type)
	}
	env, err := schemas.NewEnvelopeValidated(p, schemas.OrderKey(brandID, ev.OrderID), brandID, ev.OccurredAt, now)
	if err != nil {
		return schemas.Envelope{}, err
	}
	env.EventID = EventID(brandID, ev.EventID)
	env.CorrelationID = correlationID
	return env, nil
}
