package ingest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/ingest"
	"github.com/attrib-engine/attrib/schemas"
)

// The fuzz test runs the whole handler without servers, so these in-memory
// stand-ins are the one place the package's tests use fakes.

// memLog is an in-memory Appender.
type memLog struct {
	mu     sync.Mutex
	events []schemas.Envelope
}

func (l *memLog) Append(_ context.Context, _ string, events ...schemas.Envelope) error {
	l.mu.Lock()
	l.events = append(l.events, events...)
	l.mu.Unlock()
	return nil
}

// memDedupe is an in-memory Deduper.
type memDedupe struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (d *memDedupe) Seen(_ context.Context, keys []string) ([]bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]bool, len(keys))
	for i, k := range keys {
		out[i] = d.seen[k]
	}
	return out, nil
}

func (d *memDedupe) Mark(_ context.Context, keys []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range keys {
		d.seen[k] = true
	}
	return nil
}

// FuzzWebhook runs the handler on arbitrary bodies and signature headers.
// With sign set, the body is signed correctly (so the parser is reached);
// otherwise the header is used as given. The handler must not panic, must
// answer 202, 400, 401 or 413 with a JSON body, and whatever it accepts
// must be valid JSON whose events pass the full JSON Schema validation.
func FuzzWebhook(f *testing.F) {
	const secret = "whsec_fuzz"
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	seeds := []string{
		placed("e1", "A-1"),
		batch(placed("e1", "A-1"), event("e2", "order.confirmed", "A-1", ""), event("e3", "order.refunded", "A-1", `"refund_amount":"5"`)),
		batch(event("e4", "order.cancelled", "A-2", `"x":{"y":[1,2.5e3,true,null]}`), placed("e1", "A-1")),
		`{"event_id":"e\u00e9\ud83d\ude00","type":"order.placed","order_id":"A","occurred_at":"2026-11-24T10:00:00+03:00","promo_codes":[],"amount":"1500","currency":"JPY","country":"JP"}`,
		`{"events":[]}`, `{"events":null}`, `[]`, `{}`, ``, `{"events":[1]}`, `{"event_id":"\ud800"}`,
		strings.Replace(placed("e1", "A"), `"2500.00"`, `2500`, 1),
		strings.Replace(placed("e1", "A"), `"RU"`, `"ru"`, 1),
		`{"events":[` + strings.Repeat(`[`, 70) + `]}`,
		"{\"event_id\":\"\xff\"}",
	}
	for _, s := range seeds {
		f.Add([]byte(s), "", true)
		f.Add([]byte(s), ingest.Sign(secret, now, []byte(s)), false)
	}
	// Attacks on the signature: forged, replayed from outside the window,
	// made with another brand's secret.
	f.Add([]byte(placedJSONForFuzz), "t="+strconv.FormatInt(now.Unix(), 10)+",v1="+strings.Repeat("ab", 32), false)
	f.Add([]byte(placedJSONForFuzz), ingest.Sign(secret, now.Add(-6*time.Minute), []byte(placedJSONForFuzz)), false)
	f.Add([]byte(placedJSONForFuzz), ingest.Sign("whsec_other_brand", now, []byte(placedJSONForFuzz)), false)
	// Hostile bodies: deep nesting, invalid UTF-8, members given twice.
	for _, s := range []string{
		strings.Replace(placedJSONForFuzz, `"country":"RU"`, `"country":"RU","x":`+strings.Repeat("[", 65)+strings.Repeat("]", 65), 1),
		`{"events":[` + strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70) + `]}`,
		strings.Replace(placedJSONForFuzz, `"anna10"`, "\"an\xc3na\"", 1),
		strings.Replace(placedJSONForFuzz, `"country":"RU"`, "\"country\":\"RU\",\"x\":\"\xed\xa0\x80\"", 1),
		strings.Replace(placedJSONForFuzz, `"amount":"2500.00"`, `"amount":"1.00","amount":"2500.00"`, 1),
		`{"events":[` + placedJSONForFuzz + `],"events":[]}`,
		"\xef\xbb\xbf" + placedJSONForFuzz,
	} {
		f.Add([]byte(s), "", true)
	}
	f.Add([]byte(placedJSONForFuzz), "t=1764000000,v1=00", false)
	f.Add([]byte(placedJSONForFuzz), "t=,v1=,v1=,v1=,v1=,v1=", false)
	f.Add([]byte(placedJSONForFuzz), "t=99999999999999999999,v1="+strings.Repeat("a", 64), false)

	f.Fuzz(func(t *testing.T, body []byte, sigHeader string, sign bool) {
		log := &memLog{}
		dedupe := &memDedupe{seen: map[string]bool{}}
		hook, err := ingest.New(ingest.Config{
			Log:     log,
			Dedupe:  dedupe,
			Secrets: ingest.SecretFunc(func(_ context.Context, id string) (string, bool, error) { return secret, id == "b1", nil }),
			Now:     func() time.Time { return now },
			// Small, so that 413 is reachable.
			MaxBodyBytes: 64 << 10,
			Logger:       testLogger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if sign {
			sigHeader = ingest.Sign(secret, now, body)
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/webhooks/orders", strings.NewReader(string(body)))
		req.Header.Set(ingest.HeaderBrandID, "b1")
		req.Header.Set(ingest.HeaderSignature, sigHeader)
		rec := httptest.NewRecorder()
		hook.ServeHTTP(rec, req)

		switch rec.Code {
		case 202, 400, 401, 413:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var answer struct {
			Accepted   *int `json:"accepted"`
			Duplicates *int `json:"duplicates"`
			Error      *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
				Field   string `json:"field"`
			} `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
			t.Fatalf("answer is not JSON: %q", rec.Body)
		}
		if rec.Code != 202 {
			if answer.Error == nil || answer.Error.Code == "" || answer.Error.Message == "" {
				t.Fatalf("error answer without code or message: %s", rec.Body)
			}
			if len(log.events) != 0 || len(dedupe.seen) != 0 {
				t.Fatalf("refused with %d, but %d events were appended and %d marked as seen", rec.Code, len(log.events), len(dedupe.seen))
			}
			// A refused body names its bad field, or the body as a whole.
			if rec.Code == 400 {
				name := answer.Error.Field
				if name == "" {
					name = "body"
				}
				if !strings.HasPrefix(answer.Error.Message, name+": ") {
					t.Fatalf("400 %q does not start with its field %q", answer.Error.Message, name)
				}
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted a body that is not valid JSON: %q", body)
		}
		if answer.Accepted == nil || answer.Duplicates == nil || *answer.Accepted != len(log.events) || *answer.Accepted+*answer.Duplicates == 0 {
			t.Fatalf("answer %s, %d events appended", rec.Body, len(log.events))
		}
		for _, env := range log.events {
			if _, err := schemas.Decode(env); err != nil {
				t.Fatalf("accepted an event that fails its schema: %v\nbody %q", err, body)
			}
			if env.EventID == "" || env.BrandID != "b1" || !strings.HasPrefix(env.AggregateKey, "b1/") {
				t.Fatalf("bad envelope %+v", env)
			}
		}
		// What was accepted reads back the same through encoding/json.
		checkAgainstEncodingJSON(t, body, log.events)
	})
}

const placedJSONForFuzz = `{"event_id":"e1","type":"order.placed","order_id":"A-1001","occurred_at":"2026-11-24T10:00:00Z","promo_codes":["anna10"],"amount":"2500.00","currency":"RUB","country":"RU"}`

// checkAgainstEncodingJSON decodes an accepted body with encoding/json
// (into maps: exact member names, as the webhook matches them) and checks
// that the appended events are exactly the first occurrence of each
// event_id, with the order id encoding/json reads.
func checkAgainstEncodingJSON(t *testing.T, body []byte, appended []schemas.Envelope) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatalf("accepted body does not decode with encoding/json: %v", err)
	}
	objs := []map[string]json.RawMessage{top}
	if raw, ok := top["events"]; ok {
		objs = nil
		if err := json.Unmarshal(raw, &objs); err != nil {
			t.Fatalf("accepted events do not decode with encoding/json: %v", err)
		}
	}
	want := map[string]string{}
	for _, o := range objs {
		var id, order string
		if json.Unmarshal(o["event_id"], &id) != nil || json.Unmarshal(o["order_id"], &order) != nil {
			t.Fatalf("accepted event %v without string ids", o)
		}
		eid := ingest.EventID("b1", id)
		if _, dup := want[eid]; !dup {
			want[eid] = schemas.OrderKey("b1", order)
		}
	}
	if len(want) != len(appended) {
		t.Fatalf("appended %d events, encoding/json reads %d distinct ones", len(appended), len(want))
	}
	for _, env := range appended {
		if want[env.EventID] != env.AggregateKey {
			t.Fatalf("event %s appended with key %q, encoding/json reads %q", env.EventID, env.AggregateKey, want[env.EventID])
		}
	}
}
