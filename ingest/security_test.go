package ingest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/credentials"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/ingest"
	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
	"github.com/attrib-engine/attrib/schemas"
)

// addBrand registers one more brand in the rig's catalog projection and
// returns its id and webhook secret.
func (r *rig) addBrand() (string, string) {
	r.t.Helper()
	ctx := context.Background()
	proj, err := rediscatalog.New(rediscatalog.Config{Client: r.redis, Prefix: r.prefix + "catalog:", Logger: testLogger()})
	if err != nil {
		r.t.Fatal(err)
	}
	id, salt := testenv.UniqueName("b_"), testenv.UniqueName("salt-")
	env, err := schemas.NewEnvelopeFor(schemas.BrandRegistered{BrandID: id, Name: "Other",
		APIKeyHash: credentials.Hash("ak_" + id), WebhookSecretSalt: salt}, time.Now(), time.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	if err := proj.Apply(ctx, &eventstore.Batch{Topic: schemas.TopicCatalog, Messages: []eventstore.Message{{Topic: schemas.TopicCatalog, Envelope: env}}}); err != nil {
		r.t.Fatalf("apply brand: %v", err)
	}
	return id, r.key.WebhookSecret(id, salt)
}

// dedupeKeys returns the rig's Redis keys that are not the catalog's:
// what the webhook wrote.
func (r *rig) dedupeKeys() []string {
	r.t.Helper()
	var keys []string
	iter := r.redis.Scan(context.Background(), 0, r.prefix+"*", 1000).Iterator()
	for iter.Next(context.Background()) {
		if !strings.HasPrefix(iter.Val(), r.prefix+"catalog:") {
			keys = append(keys, iter.Val())
		}
	}
	if err := iter.Err(); err != nil {
		r.t.Fatalf("scan redis: %v", err)
	}
	slices.Sort(keys)
	return keys
}

// shopEventIDs returns the shop event ids of the orders in the log.
func (r *rig) shopEventIDs() []string {
	r.t.Helper()
	var ids []string
	for _, env := range r.events() {
		ev, err := schemas.Decode(env)
		if err != nil {
			r.t.Fatal(err)
		}
		if p, ok := ev.(*schemas.OrderPlaced); ok {
			ids = append(ids, env.BrandID+"/"+p.ShopEventID)
		} else {
			r.t.Fatalf("unexpected event %T", ev)
		}
	}
	slices.Sort(ids)
	return ids
}

// setClock sets clk to t.
func setClock(clk *clock, t time.Time) { clk.Add(t.Sub(clk.Now())) }

// TestSignatureAttacks: a forged signature, one made with another brand's
// secret (either way round), and a captured request replayed outside the
// 5-minute window are refused with 401 and record nothing: no event in the
// log, no dedupe key in Redis. A replay inside the window is a duplicate.
func TestSignatureAttacks(t *testing.T) {
	r := newRig(t, rigOptions{})
	other, otherSecret := r.addBrand()
	clk := &clock{now: time.Now()}
	hook, err := ingest.New(ingest.Config{Log: r.store, Secrets: r.secrets, Dedupe: r.dedupe, Now: clk.Now, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	send := func(body, brand, sig string) reply {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/webhooks/orders", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(ingest.HeaderBrandID, brand)
		req.Header.Set(ingest.HeaderSignature, sig)
		return r.do(req)
	}
	forged := func() string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}

	// A request the shop really sent, captured at t0.
	t0 := clk.Now()
	captured := placed("captured", "A-1")
	capturedSig := ingest.Sign(r.secret, t0, []byte(captured))
	send(captured, r.brand, capturedSig).expectAccepted(t, 1, 0)
	wantLog := r.shopEventIDs()
	wantKeys := r.dedupeKeys()
	if len(wantLog) != 1 || len(wantKeys) != 1 {
		t.Fatalf("after one accepted event: log %v, dedupe keys %v", wantLog, wantKeys)
	}

	tests := []struct {
		name    string
		at      time.Duration // the server's clock, after t0
		body    string
		brand   string
		sig     string
		message string
	}{
		{"forged MAC", 0, placed("f1", "A-2"), r.brand, "t=" + unix(t0) + ",v1=" + forged(), "invalid signature or unknown brand"},
		{"forged MAC among several", 0, placed("f2", "A-2"), r.brand, "t=" + unix(t0) + ",v1=" + forged() + ",v1=" + forged(), "invalid signature or unknown brand"},
		{"another brand's secret, sent as this brand", 0, placed("f3", "A-2"), r.brand, ingest.Sign(otherSecret, t0, []byte(placed("f3", "A-2"))), "invalid signature or unknown brand"},
		{"this brand's signature, sent as another brand", 0, placed("f4", "A-2"), other, ingest.Sign(r.secret, t0, []byte(placed("f4", "A-2"))), "invalid signature or unknown brand"},
		{"captured request to another brand", 0, captured, other, capturedSig, "invalid signature or unknown brand"},
		{"captured request replayed 5m01s later", 5*time.Minute + time.Second, captured, r.brand, capturedSig, "away from the server's time"},
		{"captured request replayed a day later", 24 * time.Hour, captured, r.brand, capturedSig, "away from the server's time"},
		{"captured signature on another body", 0, placed("f5", "A-1"), r.brand, capturedSig, "invalid signature"},
		{"captured signature, timestamp moved forward", 10 * time.Minute, captured, r.brand,
			strings.Replace(capturedSig, "t="+unix(t0), "t="+unix(t0.Add(10*time.Minute)), 1), "invalid signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			setClock(clk, t0.Add(tc.at))
			rep := send(tc.body, tc.brand, tc.sig)
			rep.expect(t, http.StatusUnauthorized, "unauthorized", "")
			if !strings.Contains(rep.Error.Message, tc.message) {
				t.Errorf("message %q, want it to contain %q", rep.Error.Message, tc.message)
			}
			if got := r.dedupeKeys(); !slices.Equal(got, wantKeys) {
				t.Errorf("dedupe keys %v after the refusal, want %v", got, wantKeys)
			}
		})
	}

	// Within the window a replay passes the signature, and is a duplicate.
	setClock(clk, t0.Add(4*time.Minute))
	send(captured, r.brand, capturedSig).expectAccepted(t, 0, 1)

	if got := r.shopEventIDs(); !slices.Equal(got, wantLog) {
		t.Errorf("log holds %v, want only %v", got, wantLog)
	}
	if got := r.dedupeKeys(); !slices.Equal(got, wantKeys) {
		t.Errorf("dedupe keys %v, want %v", got, wantKeys)
	}
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// TestHostileBodies: bodies built to hurt a parser (deep nesting, invalid
// UTF-8, members given twice, oversized values and bodies, more than one
// JSON value) are refused with an error that names the field (or the body
// and the byte), and record nothing: no event in the log, no dedupe key in
// Redis, even where the bad event follows good ones.
func TestHostileBodies(t *testing.T) {
	const limit = 16 << 10
	r := newRig(t, rigOptions{maxBodyBytes: limit})
	good := placed("g1", "A-1")
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	with := func(old, new string) string { return strings.Replace(placed("e1", "A-1"), old, new, 1) }
	extra := func(member string) string { return with(`"country":"RU"`, `"country":"RU",`+member) }
	events := make([]string, 100)
	for i := range events {
		events[i] = placed("big"+strconv.Itoa(i), "A-1")
	}
	oversized := batch(events...)
	if len(oversized) <= limit {
		t.Fatalf("oversized body is %d bytes, not over %d", len(oversized), limit)
	}
	tests := []struct {
		name, body  string
		status      int
		code, field string
		message     string
	}{
		{"deep nesting in an unknown member", extra(`"x":` + nest(1000)), 400, "invalid_field", "", "body: invalid JSON at byte"},
		{"deep nesting in a batch", batch(good, `{"a":`+strings.Repeat(`{"a":`, 1000)+"1"+strings.Repeat("}", 1001)), 400, "invalid_field", "events[1]", "nested more than 64 levels deep"},
		{"deep nesting as the events", `{"events":` + nest(1000) + `}`, 400, "invalid_field", "events[0]", "nested more than 64 levels deep"},
		{"deep nesting at the top", nest(1000), 400, "invalid_field", "", "nested more than 64 levels deep"},
		{"invalid UTF-8 in a known field", with(`"e1"`, "\"e\xff1\""), 400, "invalid_field", "", "body: not valid UTF-8"},
		{"invalid UTF-8 in a promo code", batch(good, with(`"anna10"`, "\"an\xc3na\"")), 400, "invalid_field", "", "body: not valid UTF-8"},
		{"UTF-8 encoded surrogate in an unknown member", extra("\"x\":\"\xed\xa0\x80\""), 400, "invalid_field", "", "body: not valid UTF-8"},
		{"unpaired surrogate escape", batch(good, with(`"e1"`, `"e\ud800"`)), 400, "invalid_field", "events[1].event_id", "unpaired surrogate"},
		{"NUL escape in an id", with(`"A-1"`, `"A-1\u0000"`), 400, "invalid_field", "order_id", "control characters"},
		{"byte order mark", "\xef\xbb\xbf" + good, 400, "invalid_field", "", "invalid JSON at byte 0"},
		{"amount given twice", with(`"amount":"2500.00"`, `"amount":"1.00","amount":"2500.00"`), 400, "invalid_field", "amount", "appears more than once"},
		{"events given twice", `{"events":[` + good + `],"events":[` + placed("e2", "A-2") + `]}`, 400, "invalid_field", "events", "appears more than once"},
		{"event id of 10,000 characters", with(`"e1"`, `"`+strings.Repeat("e", 10000)+`"`), 400, "invalid_field", "event_id", "at most 200 characters"},
		{"amount with a huge exponent", batch(good, with(`"2500.00"`, `"1e999999999"`)), 400, "invalid_field", "events[1].amount", "decimal string"},
		{"two JSON values", good + placed("e2", "A-2"), 400, "invalid_field", "", "unexpected data after the JSON value"},
		{"a JSON array", `[` + good + `]`, 400, "invalid_field", "", "must be a JSON object"},
		{"body over the limit", oversized, 413, "too_large", "", "bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := r.post(tc.body)
			rep.expect(t, tc.status, tc.code, tc.field)
			if !strings.Contains(rep.Error.Message, tc.message) {
				t.Errorf("message %q, want it to contain %q", rep.Error.Message, tc.message)
			}
			if tc.field != "" && !strings.HasPrefix(rep.Error.Message, tc.field+": ") {
				t.Errorf("message %q does not start with its field %q", rep.Error.Message, tc.field)
			}
		})
	}
	if got := r.events(); len(got) != 0 {
		t.Errorf("%d events in the log after hostile bodies, want none", len(got))
	}
	if got := r.dedupeKeys(); len(got) != 0 {
		t.Errorf("dedupe keys %v after hostile bodies, want none", got)
	}
	// The webhook still works.
	r.post(good).expectAccepted(t, 1, 0)
}
