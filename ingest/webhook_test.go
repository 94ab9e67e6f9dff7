package ingest_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/eventstore/embedded"
	"github.com/attrib-engine/attrib/ingest"
	"github.com/attrib-engine/attrib/schemas"
)

func TestSignature(t *testing.T) {
	r := newRig(t, rigOptions{})
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := func(secret, ts, body string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(ts + "." + body))
		return hex.EncodeToString(m.Sum(nil))
	}
	at := func(d time.Duration) func(string) string {
		return func(body string) string { return ingest.Sign(r.secret, now.Add(d), []byte(body)) }
	}
	header := func(f func(body, good string) string) func(string) string {
		return func(body string) string { return f(body, mac(r.secret, ts, body)) }
	}
	tests := []struct {
		name    string
		brand   string // "" is the rig's brand, "-" none
		sig     func(body string) string
		tamper  bool
		status  int
		message string
	}{
		{name: "valid", sig: at(0), status: 202},
		{name: "valid, written by hand", sig: header(func(_, good string) string { return "t=" + ts + ",v1=" + good }), status: 202},
		{name: "valid with spaces and an unknown scheme", sig: header(func(_, good string) string { return " t=" + ts + " , v0=abc , v1=" + good + " " }), status: 202},
		{name: "rotation: one of two v1 matches", sig: header(func(body, good string) string {
			return "t=" + ts + ",v1=" + mac("whsec_old", ts, body) + ",v1=" + good
		}), status: 202},
		{name: "upper-case hex", sig: header(func(_, good string) string { return "t=" + ts + ",v1=" + strings.ToUpper(good) }), status: 202},
		{name: "4m50s old", sig: at(-290 * time.Second), status: 202},
		{name: "4m50s ahead", sig: at(290 * time.Second), status: 202},
		{name: "wrong secret", sig: func(body string) string { return ingest.Sign(r.secret+"x", now, []byte(body)) }, status: 401, message: "invalid signature or unknown brand"},
		{name: "tampered body", sig: at(0), tamper: true, status: 401, message: "invalid signature or unknown brand"},
		{name: "signed without the timestamp", sig: func(body string) string {
			m := hmac.New(sha256.New, []byte(r.secret))
			m.Write([]byte(body))
			return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
		}, status: 401, message: "invalid signature"},
		{name: "timestamp changed after signing", sig: header(func(_, good string) string { return "t=" + strconv.FormatInt(now.Unix()-1, 10) + ",v1=" + good }), status: 401, message: "invalid signature"},
		{name: "6 minutes old", sig: at(-6 * time.Minute), status: 401, message: "away from the server's time"},
		{name: "6 minutes ahead", sig: at(6 * time.Minute), status: 401, message: "at most 5m0s either way"},
		{name: "timestamp 0", sig: func(body string) string { return "t=0,v1=" + mac(r.secret, "0", body) }, status: 401, message: "away from the server's time"},
		{name: "unknown brand", brand: "b_nobody", sig: at(0), status: 401, message: "invalid signature or unknown brand"},
		{name: "brand id with spaces", brand: "b 1", sig: at(0), status: 401, message: "invalid signature or unknown brand"},
		{name: "no brand", brand: "-", sig: at(0), status: 401, message: "X-Brand-Id header is required"},
		{name: "no signature", sig: func(string) string { return "" }, status: 401, message: "X-Signature header is required"},
		{name: "no t", sig: header(func(_, good string) string { return "v1=" + good }), status: 401, message: "malformed X-Signature"},
		{name: "no v1", sig: header(func(_, _ string) string { return "t=" + ts }), status: 401, message: "malformed X-Signature"},
		{name: "t twice", sig: header(func(_, good string) string { return "t=" + ts + ",t=" + ts + ",v1=" + good }), status: 401, message: "malformed X-Signature"},
		{name: "t not a number", sig: header(func(_, good string) string { return "t=now,v1=" + good }), status: 401, message: "malformed X-Signature"},
		{name: "negative t", sig: header(func(_, good string) string { return "t=-" + ts + ",v1=" + good }), status: 401, message: "malformed X-Signature"},
		{name: "bad hex", sig: header(func(_, _ string) string { return "t=" + ts + ",v1=" + strings.Repeat("zz", 32) }), status: 401, message: "malformed X-Signature"},
		{name: "short MAC", sig: header(func(_, good string) string { return "t=" + ts + ",v1=" + good[:62] }), status: 401, message: "malformed X-Signature"},
		{name: "semicolons", sig: header(func(_, good string) string { return "t=" + ts + ";v1=" + good }), status: 401, message: "malformed X-Signature"},
		{name: "bare MAC", sig: header(func(_, good string) string { return good }), status: 401, message: "malformed X-Signature"},
	}
	accepted := 0
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := placed("sig-"+strconv.Itoa(i), "A-1")
			sig := tc.sig(body)
			if tc.tamper {
				body = strings.Replace(body, "2500.00", "25000.00", 1)
			}
			headers := map[string]string{}
			switch tc.brand {
			case "":
				headers[ingest.HeaderBrandID] = r.brand
			case "-":
			default:
				headers[ingest.HeaderBrandID] = tc.brand
			}
			if sig != "" {
				headers[ingest.HeaderSignature] = sig
			}
			rep := r.send(body, headers)
			if tc.status == 202 {
				rep.expectAccepted(t, 1, 0)
				accepted++
				return
			}
			rep.expect(t, 401, "unauthorized", "")
			if !strings.Contains(rep.Error.Message, tc.message) {
				t.Errorf("message %q, want it to contain %q", rep.Error.Message, tc.message)
			}
		})
	}
	if got := r.events(); len(got) != accepted {
		t.Errorf("%d events in the log, want the %d accepted", len(got), accepted)
	}
	if got := r.counter("attrib_ingest_webhook_requests_total", "outcome", "unauthorized"); got != float64(len(tests)-accepted) {
		t.Errorf("unauthorized requests counted %v, want %d", got, len(tests)-accepted)
	}
}

func TestUnknownBrandAndWrongSignatureLookAlike(t *testing.T) {
	r := newRig(t, rigOptions{})
	body := placed("e1", "A-1")
	wrong := r.send(body, map[string]string{ingest.HeaderBrandID: r.brand, ingest.HeaderSignature: ingest.Sign("whsec_x", time.Now(), []byte(body))})
	unknown := r.send(body, map[string]string{ingest.HeaderBrandID: "b_unknown", ingest.HeaderSignature: ingest.Sign("whsec_x", time.Now(), []byte(body))})
	if wrong.raw != unknown.raw || wrong.status != unknown.status {
		t.Errorf("wrong signature: %d %s\nunknown brand: %d %s\nwant the same answer", wrong.status, wrong.raw, unknown.status, unknown.raw)
	}
}

func TestValidationOverHTTP(t *testing.T) {
	r := newRig(t, rigOptions{})
	tests := []struct {
		name, body, field, message string
	}{
		{name: "single: amount a number", body: strings.Replace(placed("e1", "A-1"), `"2500.00"`, `2500`, 1), field: "amount", message: "amount: must be a string, got a number"},
		{name: "single: country lower-case", body: strings.Replace(placed("e1", "A-1"), `"RU"`, `"ru"`, 1), field: "country", message: "ISO 3166-1 alpha-2"},
		{name: "single: missing type", body: `{"event_id":"e1","order_id":"A","occurred_at":"2026-11-24T10:00:00Z"}`, field: "type", message: "type: is required"},
		{name: "batch: fourth event's amount", body: batch(placed("e1", "A-1"), placed("e2", "A-2"), placed("e3", "A-3"),
			strings.Replace(placed("e4", "A-4"), `"2500.00"`, `"2500.001"`, 1), strings.Replace(placed("e5", "A-5"), `"RU"`, `1`, 1)),
			field: "events[3].amount", message: "more than 2 digits after the point for RUB"},
		{name: "batch: refund amount zero", body: batch(event("e1", "order.refunded", "A-1", `"refund_amount":"0"`)), field: "events[0].refund_amount", message: "must be positive"},
		{name: "batch: promo code not a string", body: batch(placed("e1", "A-1"), strings.Replace(placed("e2", "A-2"), `["anna10"]`, `["anna10",5]`, 1)),
			field: "events[1].promo_codes[1]", message: "must be a string"},
		{name: "batch: bad occurred_at", body: batch(strings.Replace(placed("e1", "A-1"), "2026-11-24T10:00:00Z", "24.11.2026", 1)), field: "events[0].occurred_at", message: "RFC 3339"},
		{name: "not JSON", body: `{"events": [`, field: "events", message: "events: invalid JSON at byte 12: unexpected end of input"},
		{name: "not JSON at the top", body: `{"events" [`, field: "", message: "body: invalid JSON at byte 10: expected ':'"},
		{name: "empty batch", body: `{"events": []}`, field: "events", message: "at least 1 event"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := r.post(tc.body)
			rep.expect(t, 400, "invalid_field", tc.field)
			if !strings.Contains(rep.Error.Message, tc.message) {
				t.Errorf("message %q, want it to contain %q", rep.Error.Message, tc.message)
			}
		})
	}
	if got := r.events(); len(got) != 0 {
		t.Errorf("%d events in the log after refused requests, want none (a bad batch is refused whole)", len(got))
	}
	if seen, err := r.dedupe.Seen(context.Background(), []string{ingest.DedupeKey(r.brand, "e1"), ingest.DedupeKey(r.brand, "e2")}); err != nil || seen[0] || seen[1] {
		t.Errorf("refused events marked as seen: %v %v", seen, err)
	}
	if got := r.counter("attrib_ingest_webhook_requests_total", "outcome", "invalid"); got != float64(len(tests)) {
		t.Errorf("invalid requests counted %v, want %d", got, len(tests))
	}
}

func TestBatchOf1000(t *testing.T) {
	r := newRig(t, rigOptions{})
	events := make([]string, ingest.MaxEvents+1)
	for i := range events {
		events[i] = placed("e"+strconv.Itoa(i), "A-"+strconv.Itoa(i%37))
	}
	r.post(batch(events...)).expect(t, 400, "invalid_field", "events")
	if got := r.events(); len(got) != 0 {
		t.Fatalf("%d events in the log after a refused batch of 1001", len(got))
	}
	r.post(batch(events[:ingest.MaxEvents]...)).expectAccepted(t, ingest.MaxEvents, 0)
	got := r.events()
	if len(got) != ingest.MaxEvents {
		t.Fatalf("%d events in the log, want %d", len(got), ingest.MaxEvents)
	}
	// Per order, the log keeps the batch's order.
	last := map[string]int{}
	for _, env := range got {
		ev, err := schemas.Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		p := ev.(*schemas.OrderPlaced)
		n, _ := strconv.Atoi(strings.TrimPrefix(p.ShopEventID, "e"))
		if prev, ok := last[p.OrderID]; ok && n < prev {
			t.Fatalf("order %s: event %d after %d", p.OrderID, n, prev)
		}
		last[p.OrderID] = n
	}
}

func TestBodyTooLarge(t *testing.T) {
	r := newRig(t, rigOptions{maxBodyBytes: 2048})
	events := make([]string, 20)
	for i := range events {
		events[i] = placed("e"+strconv.Itoa(i), "A-1")
	}
	big := batch(events...)
	if len(big) <= 2048 {
		t.Fatalf("body of %d bytes is not over the limit", len(big))
	}
	r.post(big).expect(t, 413, "too_large", "")

	// Without a Content-Length (chunked), the limit holds while reading.
	req, err := http.NewRequest(http.MethodPost, r.srv.URL, io.MultiReader(strings.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header.Set(ingest.HeaderBrandID, r.brand)
	req.Header.Set(ingest.HeaderSignature, ingest.Sign(r.secret, time.Now(), []byte(big)))
	r.do(req).expect(t, 413, "too_large", "")

	r.post(batch(events[:5]...)).expectAccepted(t, 5, 0)
	if got := r.counter("attrib_ingest_webhook_requests_total", "outcome", "too_large"); got != 2 {
		t.Errorf("too_large requests counted %v, want 2", got)
	}
}

func TestResendIsCountedAsDuplicate(t *testing.T) {
	r := newRig(t, rigOptions{})
	first := batch(placed("e1", "A-1"), event("e2", "order.confirmed", "A-1", ""), event("e3", "order.refunded", "A-2", `"refund_amount":"1.5"`))
	before := time.Now()
	rep := r.post(first)
	rep.expectAccepted(t, 3, 0)
	correlation := rep.header.Get("X-Correlation-Id")
	r.post(first).expectAccepted(t, 0, 3)
	r.post(event("e2", "order.confirmed", "A-1", "")).expectAccepted(t, 0, 1)
	r.post(batch(event("e4", "order.cancelled", "A-3", ""), placed("e1", "A-1"))).expectAccepted(t, 1, 1)

	got := r.events()
	if len(got) != 4 {
		t.Fatalf("%d events in the log, want 4", len(got))
	}
	byShopID := map[string]schemas.Envelope{}
	for _, env := range got {
		ev, err := schemas.Decode(env) // full validation of what ingest wrote
		if err != nil {
			t.Fatalf("decode %s: %v", env.EventID, err)
		}
		var shopID string
		switch p := ev.(type) {
		case *schemas.OrderPlaced:
			shopID = p.ShopEventID
			want := schemas.OrderPlaced{OrderID: "A-1", BrandID: r.brand, ShopEventID: "e1", PromoCodes: []string{"anna10"}, Amount: "2500.00", Currency: "RUB", Country: "RU"}
			if fmt.Sprint(*p) != fmt.Sprint(want) {
				t.Errorf("payload %+v, want %+v", *p, want)
			}
		case *schemas.OrderConfirmed:
			shopID = p.ShopEventID
		case *schemas.OrderRefunded:
			shopID = p.ShopEventID
			if p.RefundAmount != "1.5" || p.OrderID != "A-2" {
				t.Errorf("refund payload %+v", *p)
			}
		case *schemas.OrderCancelled:
			shopID = p.ShopEventID
		}
		if _, dup := byShopID[shopID]; dup {
			t.Errorf("shop event %s appended twice", shopID)
		}
		byShopID[shopID] = env
		if env.EventID != ingest.EventID(r.brand, shopID) {
			t.Errorf("event id %s, want the one derived from the brand and shop event id", env.EventID)
		}
		if env.BrandID != r.brand || !strings.HasPrefix(env.AggregateKey, r.brand+"/A-") {
			t.Errorf("brand %q key %q", env.BrandID, env.AggregateKey)
		}
		if !env.OccurredAt.Equal(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)) {
			t.Errorf("occurred_at %v, want the shop's", env.OccurredAt)
		}
		if env.RecordedAt.Before(before.Add(-time.Second)) || env.RecordedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("recorded_at %v, want the time of the request", env.RecordedAt)
		}
	}
	for _, id := range []string{"e1", "e2", "e3"} {
		if byShopID[id].CorrelationID != correlation || correlation == "" {
			t.Errorf("event %s: correlation id %q, want the request's %q", id, byShopID[id].CorrelationID, correlation)
		}
	}
	if byShopID["e4"].CorrelationID == correlation {
		t.Error("two requests share a correlation id")
	}
	if got := r.counter("attrib_ingest_webhook_duplicates_total"); got != 5 {
		t.Errorf("duplicates counted %v, want 5", got)
	}
	if got := r.counter("attrib_ingest_webhook_events_accepted_total"); got != 4 {
		t.Errorf("accepted events counted %v, want 4", got)
	}
	if got := r.counter("attrib_ingest_webhook_requests_total", "outcome", "duplicate_only"); got != 2 {
		t.Errorf("duplicate-only requests counted %v, want 2", got)
	}
}

func TestSameEventTwiceInOneBatch(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.post(batch(placed("e1", "A-1"), placed("e2", "A-2"), placed("e1", "A-1"), placed("e1", "A-9"))).expectAccepted(t, 2, 2)
	got := r.events()
	if len(got) != 2 {
		t.Fatalf("%d events in the log, want 2", len(got))
	}
	for _, env := range got {
		if env.AggregateKey == schemas.OrderKey(r.brand, "A-9") {
			t.Error("a later copy of an event id in the batch was appended: the first one wins")
		}
	}
}

func TestLogDownAnswers503AndRecordsNothing(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, rigOptions{dataDir: dir, writeTimeout: 3 * time.Second})
	r.post(placed("e0", "A-0")).expectAccepted(t, 1, 0)
	addr := r.broker.Addrs()[0] // the restarted broker listens here again

	r.broker.Close()
	body := batch(placed("e1", "A-1"), placed("e2", "A-2"), placed("e3", "A-3"))
	rep := r.post(body)
	rep.expect(t, 503, "unavailable", "")
	if !strings.Contains(rep.Error.Message, "nothing was recorded") || rep.header.Get("Retry-After") == "" {
		t.Errorf("503 %s (Retry-After %q): want it to say nothing was recorded, and when to retry", rep.raw, rep.header.Get("Retry-After"))
	}
	keys := []string{ingest.DedupeKey(r.brand, "e1"), ingest.DedupeKey(r.brand, "e2"), ingest.DedupeKey(r.brand, "e3")}
	seen, err := r.dedupe.Seen(context.Background(), keys)
	if err != nil || seen[0] || seen[1] || seen[2] {
		t.Fatalf("after a failed append: seen %v, %v; want nothing marked", seen, err)
	}

	// The broker comes back with its log; the refused events are not in it.
	b2, err := embedded.Start(embedded.Config{DataDir: dir, Addr: addr, Logger: testLogger()})
	if err != nil {
		t.Fatalf("restart broker: %v", err)
	}
	t.Cleanup(b2.Close)
	got := r.events()
	if len(got) != 1 || got[0].EventID != ingest.EventID(r.brand, "e0") {
		t.Fatalf("after the outage the log holds %d events, want only e0", len(got))
	}
	// The shop's retry goes through.
	deadline := time.Now().Add(30 * time.Second)
	for {
		rep := r.post(body)
		if rep.status == 202 {
			rep.expectAccepted(t, 3, 0)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retry after the broker is back: %d %s", rep.status, rep.raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := r.events(); len(got) != 4 {
		t.Errorf("%d events after the retry, want 4", len(got))
	}
	if got := r.counter("attrib_ingest_webhook_requests_total", "outcome", "unavailable"); got < 1 {
		t.Errorf("unavailable requests counted %v, want at least 1", got)
	}
}

func TestRedisDownAtSeenAnswers503(t *testing.T) {
	dead := freeAddr(t)
	r := newRig(t, rigOptions{dedupe: func(_ *redis.Client, prefix string) ingest.Deduper {
		c := redis.NewClient(&redis.Options{Addr: dead, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { _ = c.Close() })
		return &ingest.RedisDedupe{Client: c, Prefix: prefix}
	}})
	rep := r.post(batch(placed("e1", "A-1"), placed("e2", "A-2")))
	rep.expect(t, 503, "unavailable", "")
	if !strings.Contains(rep.Error.Message, "nothing was recorded") {
		t.Errorf("message %q", rep.Error.Message)
	}
	if got := r.events(); len(got) != 0 {
		t.Errorf("%d events in the log, want none", len(got))
	}
}

// failSets makes every dedupe mark of the client fail, as if Redis went
// down right after the dedupe check.
type failSets struct{ failed atomic.Int64 }

// isMark reports whether cmd is a mark of RedisDedupe: an HSET of a
// dedupe hash.
func isMark(cmd redis.Cmder) bool {
	if cmd.Name() != "hset" || len(cmd.Args()) < 2 {
		return false
	}
	key, _ := cmd.Args()[1].(string)
	return strings.Contains(key, ":seen:")
}

var errInjected = errors.New("injected: redis went away")

func (h *failSets) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *failSets) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isMark(cmd) {
			h.failed.Add(1)
			cmd.SetErr(errInjected)
			return errInjected
		}
		return next(ctx, cmd)
	}
}
func (h *failSets) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if isMark(c) {
				h.failed.Add(1)
				c.SetErr(errInjected)
				return errInjected
			}
		}
		return next(ctx, cmds)
	}
}

func TestRedisDownAtMarkStillAccepts(t *testing.T) {
	hook := &failSets{}
	r := newRig(t, rigOptions{redisHook: hook})
	// (The brand's registration above used HSET, of other keys.)
	r.post(placed("e1", "A-1")).expectAccepted(t, 1, 0)
	r.post(batch(placed("e2", "A-2"), placed("e3", "A-3"))).expectAccepted(t, 2, 0)
	if hook.failed.Load() == 0 {
		t.Fatal("no mark was attempted")
	}
	if got := r.counter("attrib_ingest_webhook_dedupe_mark_errors_total"); got != 2 {
		t.Errorf("mark errors counted %v, want 2", got)
	}
	// Not marked, so a re-send is appended again, with the same event id:
	// consumers drop it.
	r.post(placed("e1", "A-1")).expectAccepted(t, 1, 0)
	got := r.events()
	if len(got) != 4 {
		t.Fatalf("%d events in the log, want 4", len(got))
	}
	ids := map[string]int{}
	for _, env := range got {
		ids[env.EventID]++
	}
	if ids[ingest.EventID(r.brand, "e1")] != 2 {
		t.Errorf("event ids %v: want e1's twice, with one id", ids)
	}
}

// TestRedisDedupe runs with a client of one server and with one that
// looks like any other UniversalClient (a cluster's).
func TestRedisDedupe(t *testing.T) {
	for _, oneServer := range []bool{true, false} {
		t.Run(fmt.Sprintf("oneServer=%v", oneServer), func(t *testing.T) { testRedisDedupe(t, oneServer) })
	}
}

// otherClient is a UniversalClient that is not a *redis.Client.
type otherClient struct{ *redis.Client }

func testRedisDedupe(t *testing.T, oneServer bool) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	var client redis.UniversalClient = r.redis
	if !oneServer {
		client = otherClient{r.redis}
	}
	d := &ingest.RedisDedupe{Client: client, Prefix: r.prefix, TTL: time.Hour}
	keys := []string{ingest.DedupeKey("b1", "e1"), ingest.DedupeKey("b1", "e2"), ingest.DedupeKey("b1", strings.Repeat("x", 300))}
	for _, n := range []int{0, 1, 3} {
		seen, err := d.Seen(ctx, keys[:n])
		if err != nil || len(seen) != n {
			t.Fatalf("Seen(%d keys) = %v, %v", n, seen, err)
		}
	}
	if err := d.Mark(ctx, keys[:1]); err != nil {
		t.Fatal(err)
	}
	if err := d.Mark(ctx, keys[2:]); err != nil {
		t.Fatal(err)
	}
	if err := d.Mark(ctx, nil); err != nil {
		t.Fatal(err)
	}
	seen, err := d.Seen(ctx, keys)
	if err != nil || !seen[0] || seen[1] || !seen[2] {
		t.Fatalf("Seen = %v, %v; want [true false true]", seen, err)
	}
	// The hashes live to the end of the next period: more than one TTL
	// from now, at most two.
	checkTTLs := func(prefix string, window time.Duration) {
		t.Helper()
		hashes, err := r.redis.Keys(ctx, prefix+"seen:*").Result()
		if err != nil || len(hashes) == 0 || len(hashes) > 2 {
			t.Fatalf("hashes under %sseen: %v, %v; want one or two", prefix, hashes, err)
		}
		for _, h := range hashes {
			ttl, err := r.redis.PTTL(ctx, h).Result()
			if err != nil || ttl < window-time.Minute || ttl > 2*window {
				t.Errorf("TTL of %s: %v, %v; want between %v and %v", h, ttl, err, window, 2*window)
			}
		}
	}
	checkTTLs(r.prefix, time.Hour)
	def := &ingest.RedisDedupe{Client: client, Prefix: r.prefix + "def:"}
	if err := def.Mark(ctx, keys[:2]); err != nil {
		t.Fatal(err)
	}
	checkTTLs(r.prefix+"def:", ingest.DefaultDedupeTTL)
}

// TestRedisDedupeWindow marks a key at the start and at the end of a
// period and checks it at times after: seen within the window (TTL), and
// forgotten two windows later, when the webhook appends it again and the
// attribution worker drops it by its shop_event_id.
func TestRedisDedupeWindow(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	const window = time.Hour
	period := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Truncate(window)
	for _, mark := range []struct {
		name string
		at   time.Time
	}{
		{"start of a period", period.Add(time.Nanosecond)},
		{"end of a period", period.Add(window - time.Nanosecond)},
	} {
		for _, tc := range []struct {
			name  string
			after time.Duration
			seen  bool
		}{
			{"at once", 0, true},
			{"half a window later", window / 2, true},
			{"at the end of the window", window, true},
			{"two windows later", 2 * window, false},
			{"a year later", 365 * 24 * time.Hour, false},
		} {
			t.Run(mark.name+"/"+tc.name, func(t *testing.T) {
				now := mark.at
				d := &ingest.RedisDedupe{Client: r.redis, Prefix: r.prefix + t.Name() + ":", TTL: window,
					Now: func() time.Time { return now }}
				key := ingest.DedupeKey("b1", "e1")
				if err := d.Mark(ctx, []string{key}); err != nil {
					t.Fatal(err)
				}
				now = mark.at.Add(tc.after)
				got, err := d.Seen(ctx, []string{key, ingest.DedupeKey("b1", "e2")})
				if err != nil {
					t.Fatal(err)
				}
				if got[0] != tc.seen || got[1] {
					t.Errorf("seen %v at %v after the mark, want [%v false]", got, tc.after, tc.seen)
				}
			})
		}
	}
}

// TestRedisDedupeHashesExpire checks that every hash a mark writes has an
// expiry, set once per period by a process, and that a hash that lost its
// expiry gets it back once the refresh interval has passed.
func TestRedisDedupeHashesExpire(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	prefix := r.prefix + t.Name() + ":"
	d := &ingest.RedisDedupe{Client: r.redis, Prefix: prefix, TTL: time.Hour, Buckets: 4,
		Now: func() time.Time { return now }}
	mark := func(n int) {
		t.Helper()
		keys := make([]string, n)
		for i := range keys {
			keys[i] = ingest.DedupeKey("b1", fmt.Sprintf("e%d-%d", now.UnixNano(), i))
		}
		if err := d.Mark(ctx, keys); err != nil {
			t.Fatal(err)
		}
	}
	hashes := func() []string {
		t.Helper()
		keys, err := r.redis.Keys(ctx, prefix+"seen:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	mark(40)
	all := hashes()
	if len(all) != 4 {
		t.Fatalf("hashes %v, want the 4 buckets of the period", all)
	}
	for _, k := range all {
		if ttl := r.redis.PTTL(ctx, k).Val(); ttl <= 0 {
			t.Errorf("hash %s has no expiry (%v)", k, ttl)
		}
		if err := r.redis.Persist(ctx, k).Err(); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Second)
	mark(40)
	for _, k := range all {
		if ttl := r.redis.PTTL(ctx, k).Val(); ttl != -1 {
			t.Errorf("hash %s: expiry %v set again within the refresh interval: a command per mark", k, ttl)
		}
	}
	now = now.Add(2 * time.Minute)
	mark(40)
	for _, k := range all {
		if ttl := r.redis.PTTL(ctx, k).Val(); ttl <= 0 {
			t.Errorf("hash %s: no expiry after the refresh interval (%v)", k, ttl)
		}
	}
}

// TestRedisDedupeDropsPeriodsOutOfTheWindow moves the dedupe's clock (not
// Redis's) through periods and checks that the hashes of the periods the
// window left are deleted by the process that sees the next one begin,
// also after the clock jumped several periods, while the window's own
// marks stay seen.
func TestRedisDedupeDropsPeriodsOutOfTheWindow(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	const window = time.Hour
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Truncate(window)
	period := func(n int) time.Time { return start.Add(time.Duration(n)*window + time.Minute) }
	n0 := start.UnixNano() / int64(window)
	prefix := r.prefix + t.Name() + ":"
	now := period(0)
	newDedupe := func() *ingest.RedisDedupe {
		return &ingest.RedisDedupe{Client: r.redis, Prefix: prefix, TTL: window, Buckets: 4,
			Now: func() time.Time { return now }}
	}
	d := newDedupe()
	key := func(n int) string { return ingest.DedupeKey("b1", fmt.Sprintf("e%d", n)) }
	// periodsInRedis returns the periods (relative to the first) that
	// have hashes in Redis.
	periodsInRedis := func() []int {
		t.Helper()
		keys, err := r.redis.Keys(ctx, prefix+"seen:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		set := map[int]bool{}
		for _, k := range keys {
			var n int64
			var b int
			if _, err := fmt.Sscanf(strings.TrimPrefix(k, prefix), "seen:%d:%d", &n, &b); err != nil {
				t.Fatalf("hash %s: %v", k, err)
			}
			set[int(n-n0)] = true
		}
		out := make([]int, 0, len(set))
		for n := range set {
			out = append(out, n)
		}
		sort.Ints(out)
		return out
	}
	markAt := func(n int) {
		t.Helper()
		now = period(n)
		keys := make([]string, 40) // enough for every one of the 4 buckets
		for i := range keys {
			keys[i] = ingest.DedupeKey("b1", fmt.Sprintf("e%d-%d", n, i))
		}
		keys[0] = key(n)
		if err := d.Mark(ctx, keys); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		name    string
		run     func()
		periods []int
		seen    map[int]bool // key(n) seen now
	}{
		{"marks in the first period", func() { markAt(0) }, []int{0}, map[int]bool{0: true}},
		{"marks in the next", func() { markAt(1) }, []int{0, 1}, map[int]bool{0: true, 1: true}},
		{"a third period begins: the first leaves", func() { markAt(2) }, []int{1, 2}, map[int]bool{0: false, 1: true, 2: true}},
		{"a check alone drops too", func() { now = period(3) }, []int{2}, map[int]bool{1: false, 2: true}},
		{"marks again", func() { markAt(3) }, []int{2, 3}, map[int]bool{2: true, 3: true}},
		{"the clock jumps three periods", func() { now = period(6) }, nil, map[int]bool{2: false, 3: false}},
		{"marks after the jump", func() { markAt(6) }, []int{6}, map[int]bool{6: true}},
		{"marks in the next period", func() { markAt(7) }, []int{6, 7}, map[int]bool{6: true, 7: true}},
		{"a new process sees a period begin", func() { d = newDedupe(); now = period(8) }, []int{7}, map[int]bool{6: false, 7: true}},
	} {
		step.run()
		keys := make([]string, 0, len(step.seen))
		var want []bool
		for n, seen := range step.seen {
			keys = append(keys, key(n))
			want = append(want, seen)
		}
		got, err := d.Seen(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: seen %v for %v, want %v", step.name, got, keys, want)
		}
		if got := periodsInRedis(); !slices.Equal(got, step.periods) {
			t.Errorf("%s: hashes of periods %v in Redis, want %v", step.name, got, step.periods)
		}
	}
}

func TestCatalogSecretsAreCached(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	secret, ok, err := r.secrets.WebhookSecret(ctx, r.brand)
	if err != nil || !ok || secret != r.secret {
		t.Fatalf("secret of the brand: %v %v, want the derived one", ok, err)
	}
	if _, ok, err := r.secrets.WebhookSecret(ctx, "b_unknown"); err != nil || ok {
		t.Fatalf("unknown brand: ok %v err %v", ok, err)
	}
	// Cached: answers with Redis gone.
	_ = r.redis.Close()
	if s, ok, err := r.secrets.WebhookSecret(ctx, r.brand); err != nil || !ok || s != r.secret {
		t.Errorf("cached secret with Redis closed: %v %v", ok, err)
	}
	if _, _, err := r.secrets.WebhookSecret(ctx, "b_other"); err == nil {
		t.Error("a miss with Redis closed: want an error")
	}
}

func TestRedisDownAtSecretLookupAnswers503(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.secrets.Forget(r.brand)
	_ = r.redis.Close()
	r.post(placed("e1", "A-1")).expect(t, 503, "unavailable", "")
}

func TestMethodNotAllowed(t *testing.T) {
	r := newRig(t, rigOptions{})
	req, _ := http.NewRequest(http.MethodGet, r.srv.URL, nil)
	rep := r.do(req)
	rep.expect(t, 405, "method_not_allowed", "")
	if rep.header.Get("Allow") != http.MethodPost {
		t.Errorf("Allow %q", rep.header.Get("Allow"))
	}
}
