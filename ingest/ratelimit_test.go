package ingest_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/ingest"
	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/ratelimit"
)

// brandLimit returns a rig's limiter option: the webhook policy of a
// ratelimit.Limiter on client (the rig's own when nil), with limit l.
func brandLimit(t testing.TB, l ratelimit.Limit, client *redis.Client) func(*redis.Client, string, prometheus.Registerer) ingest.Limiter {
	return func(rigClient *redis.Client, prefix string, reg prometheus.Registerer) ingest.Limiter {
		if client == nil {
			client = rigClient
		}
		lim, err := ratelimit.New(ratelimit.Config{Client: client, Prefix: prefix + "ratelimit:", Registerer: reg, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		p, err := lim.Policy("webhook", l)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// slow is a limit under which no token comes back during a test.
func slow(burst int) ratelimit.Limit { return ratelimit.Limit{Rate: 0.001, Burst: burst} }

// TestRateLimitRefusesAndRecordsNothing: past its burst a brand gets 429
// with Retry-After and the API's error shape, and none of the refused
// requests' events is in the log or marked as seen.
func TestRateLimitRefusesAndRecordsNothing(t *testing.T) {
	r := newRig(t, rigOptions{limiter: brandLimit(t, slow(3), nil)})
	for i := range 3 {
		id := "ok" + strconv.Itoa(i)
		r.post(placed(id, "A-"+id)).expectAccepted(t, 1, 0)
	}
	var refusedKeys []string
	for i := range 4 {
		id := "late" + strconv.Itoa(i)
		rep := r.post(batch(placed(id, "B-"+id), placed(id+"b", "B-"+id)))
		rep.expect(t, http.StatusTooManyRequests, "rate_limited", "")
		ra, err := strconv.Atoi(rep.header.Get("Retry-After"))
		// 1000 s for a token at 0.001/s, rounded up to whole seconds.
		if err != nil || ra < 990 || ra > 1000 {
			t.Fatalf("Retry-After %q, want whole seconds, about 1000", rep.header.Get("Retry-After"))
		}
		if !strings.Contains(rep.Error.Message, "nothing was recorded") || !strings.Contains(rep.Error.Message, strconv.Itoa(ra)+" s") {
			t.Errorf("429 message %q: want it to say nothing was recorded and when to retry", rep.Error.Message)
		}
		refusedKeys = append(refusedKeys, ingest.DedupeKey(r.brand, id), ingest.DedupeKey(r.brand, id+"b"))
	}
	got := r.events()
	if len(got) != 3 {
		t.Fatalf("the log holds %d events, want the 3 allowed ones", len(got))
	}
	for _, env := range got {
		if !strings.HasPrefix(env.AggregateKey, r.brand+"/A-") {
			t.Errorf("the log holds %s: a refused request's event", env.AggregateKey)
		}
	}
	seen, err := r.dedupe.Seen(context.Background(), refusedKeys)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range seen {
		if s {
			t.Errorf("refused event %s is marked as seen: its retry would be dropped as a duplicate", refusedKeys[i])
		}
	}
	if got := r.counter("attrib_ingest_webhook_requests_total", "outcome", "rate_limited"); got != 4 {
		t.Errorf("rate_limited requests counted %v, want 4", got)
	}
	if got := r.counter("attrib_ratelimit_refused_total", "kind", "webhook"); got != 4 {
		t.Errorf("attrib_ratelimit_refused_total{kind=webhook} = %v, want 4", got)
	}
}

// TestRateLimitUnsignedFloodCannotDrainABrand: requests that are not
// signed with the brand's secret are refused before they reach its bucket,
// so a flood of them leaves the brand's own requests going through.
func TestRateLimitUnsignedFloodCannotDrainABrand(t *testing.T) {
	r := newRig(t, rigOptions{limiter: brandLimit(t, slow(1), nil)})
	body := placed("e1", "A-1")
	now := time.Now()
	flood := []map[string]string{
		{ingest.HeaderBrandID: r.brand},
		{ingest.HeaderBrandID: r.brand, ingest.HeaderSignature: "t=1,v1=00"},
		{ingest.HeaderBrandID: r.brand, ingest.HeaderSignature: ingest.Sign("whsec_guess", now, []byte(body))},
		{ingest.HeaderBrandID: r.brand, ingest.HeaderSignature: ingest.Sign(r.secret, now.Add(-time.Hour), []byte(body))},
	}
	for range 5 {
		for _, h := range flood {
			r.send(body, h).expect(t, http.StatusUnauthorized, "unauthorized", "")
		}
	}
	r.post(body).expectAccepted(t, 1, 0)
	r.post(placed("e2", "A-2")).expect(t, http.StatusTooManyRequests, "rate_limited", "")
}

// TestRateLimitFailsOpen: while the limiter's Redis is unreachable the
// webhook still takes orders (the limiter must not take it down), and the
// failures are counted.
func TestRateLimitFailsOpen(t *testing.T) {
	var outage testenv.Outage
	limClient, _ := testenv.Redis(t, func(o *redis.Options) { o.Dialer = outage.Dial; o.MaxRetries = -1 })
	r := newRig(t, rigOptions{limiter: brandLimit(t, slow(1), limClient)})
	outage.Down.Store(true)
	for i := range 3 {
		id := "e" + strconv.Itoa(i)
		r.post(placed(id, "A-"+id)).expectAccepted(t, 1, 0)
	}
	if got := len(r.events()); got != 3 {
		t.Fatalf("%d events in the log, want 3", got)
	}
	if got := r.counter("attrib_ratelimit_errors_total", "kind", "webhook"); got != 3 {
		t.Errorf("attrib_ratelimit_errors_total{kind=webhook} = %v, want 3", got)
	}
	outage.Down.Store(false)
	r.post(placed("e3", "A-3")).expectAccepted(t, 1, 0)
	r.post(placed("e4", "A-4")).expect(t, http.StatusTooManyRequests, "rate_limited", "")
}
