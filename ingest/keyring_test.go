package ingest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/ingest"
)

// keyrings is a KeyringSource whose brands' keyrings a test changes, as
// rotations in another process would; it counts lookups.
type keyrings struct {
	mu    sync.Mutex
	rings map[string]ingest.Keyring
	calls atomic.Int64
}

func (k *keyrings) set(brand string, r ingest.Keyring) {
	k.mu.Lock()
	k.rings[brand] = r
	k.mu.Unlock()
}

func (k *keyrings) WebhookKeyring(_ context.Context, brand string) (ingest.Keyring, bool, error) {
	k.calls.Add(1)
	k.mu.Lock()
	defer k.mu.Unlock()
	r, ok := k.rings[brand]
	return r, ok, nil
}

func (k *keyrings) WebhookSecret(ctx context.Context, brand string) (string, bool, error) {
	r, ok, err := k.WebhookKeyring(ctx, brand)
	return r.Current, ok, err
}

// keyringHook is a webhook on in-memory log and dedupe, with secrets from
// src and the clock clk.
func keyringHook(t *testing.T, src ingest.SecretSource, clk *clock) (*ingest.Webhook, *memLog) {
	t.Helper()
	log := &memLog{}
	hook, err := ingest.New(ingest.Config{Log: log, Dedupe: &memDedupe{seen: map[string]bool{}}, Secrets: src, Now: clk.Now, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return hook, log
}

// post sends one placed order signed with secrets (one v1 entry each) at
// the clock's time and returns the status.
func postSigned(hook *ingest.Webhook, clk *clock, id string, secrets ...string) int {
	body := placed(id, "A-"+id)
	var header string
	for i, s := range secrets {
		sig := ingest.Sign(s, clk.Now(), []byte(body))
		if i == 0 {
			header = sig
		} else {
			header += "," + sig[strings.Index(sig, "v1="):]
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/v1/webhooks/orders", strings.NewReader(body))
	req.Header.Set(ingest.HeaderBrandID, "b1")
	req.Header.Set(ingest.HeaderSignature, header)
	rec := httptest.NewRecorder()
	hook.ServeHTTP(rec, req)
	return rec.Code
}

// TestKeyringGrace: after a rotation both the current and the previous
// secret verify until the end of the previous one's grace (excluded), then
// only the current one; a refused request records nothing.
func TestKeyringGrace(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	until := t0.Add(24 * time.Hour)
	src := &keyrings{rings: map[string]ingest.Keyring{"b1": {Current: "whsec_new", Previous: "whsec_old", PreviousValidUntil: until}}}
	for i, tc := range []struct {
		name    string
		at      time.Time
		secrets []string
		want    int
	}{
		{"current", t0, []string{"whsec_new"}, 202},
		{"previous in its grace", t0, []string{"whsec_old"}, 202},
		{"previous at the last instant", until.Add(-time.Second), []string{"whsec_old"}, 202},
		{"both, as a shop switching sends them", t0, []string{"whsec_old", "whsec_new"}, 202},
		{"previous at the end of its grace", until, []string{"whsec_old"}, 401},
		{"current after the grace", until.Add(time.Hour), []string{"whsec_new"}, 202},
		{"another secret", t0, []string{"whsec_other"}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{now: tc.at}
			hook, log := keyringHook(t, src, clk)
			if got := postSigned(hook, clk, "e"+string(rune('a'+i)), tc.secrets...); got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
			if tc.want != 202 && len(log.events) != 0 {
				t.Fatalf("refused, but %d events appended", len(log.events))
			}
		})
	}
}

// TestCachedKeyringReloads: a rotation made in another process reaches a
// cached keyring at once, because a signature no cached secret verifies
// looks the keyring up again; bad signatures cost at most one lookup per
// ReloadInterval.
func TestCachedKeyringReloads(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	src := &keyrings{rings: map[string]ingest.Keyring{"b1": {Current: "whsec_1"}}}
	cache := ingest.NewCachedSecrets(src, ingest.CacheConfig{Now: clk.Now, ReloadInterval: time.Second})
	hook, _ := keyringHook(t, cache, clk)

	if got := postSigned(hook, clk, "e1", "whsec_1"); got != 202 {
		t.Fatalf("first request: %d", got)
	}
	clk.Add(2 * time.Second)
	src.set("b1", ingest.Keyring{Current: "whsec_2", Previous: "whsec_1", PreviousValidUntil: clk.Now().Add(24 * time.Hour)})
	if got := postSigned(hook, clk, "e2", "whsec_2"); got != 202 {
		t.Fatalf("new secret while the old keyring is cached: %d, want 202", got)
	}
	if got := postSigned(hook, clk, "e3", "whsec_1"); got != 202 {
		t.Fatalf("previous secret after the reload: %d, want 202", got)
	}
	calls := src.calls.Load()
	for i := range 20 {
		if got := postSigned(hook, clk, "bad"+string(rune('a'+i)), "whsec_forged"); got != 401 {
			t.Fatalf("forged signature: %d", got)
		}
	}
	if got := src.calls.Load() - calls; got != 0 {
		t.Fatalf("20 forged signatures within the reload interval cost %d lookups, want 0", got)
	}
	clk.Add(time.Second)
	postSigned(hook, clk, "bad-late", "whsec_forged")
	if got := src.calls.Load() - calls; got != 1 {
		t.Fatalf("a forged signature after the interval cost %d lookups, want 1", got)
	}
}
