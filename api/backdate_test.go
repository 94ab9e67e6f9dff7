package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/commands"
)

// backdateRecorder records each command and registration with the time it
// was asked to take effect at (zero: now). Commands are answered with
// fail when set, else with success for a brand's registration and "not
// found" for the rest (whose handlers need a decided state to answer).
type backdateRecorder struct {
	mu   sync.Mutex
	got  []string
	fail *commands.Failure
}

func (r *backdateRecorder) record(what string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !at.IsZero() {
		what += " at " + at.UTC().Format(time.RFC3339)
	}
	r.got = append(r.got, what)
}

func (r *backdateRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

func (r *backdateRecorder) answer(cmd catalog.BrandCommand) commands.Result {
	if r.fail != nil {
		f := *r.fail
		return commands.Result{Failure: &f}
	}
	if _, ok := cmd.(catalog.RegisterBrand); ok {
		return commands.Result{}
	}
	return commands.Result{Failure: &commands.Failure{Kind: commands.FailNotFound, Message: "not found (test)"}}
}

func (r *backdateRecorder) Send(_ context.Context, cmd catalog.BrandCommand, _ string) (commands.Result, error) {
	return r.SendAt(context.Background(), cmd, "", time.Time{})
}
func (r *backdateRecorder) SendAt(_ context.Context, cmd catalog.BrandCommand, _ string, at time.Time) (commands.Result, error) {
	r.record(commandName(cmd), at)
	return r.answer(cmd), nil
}
func (r *backdateRecorder) RegisterCreator(ctx context.Context, cmd catalog.RegisterCreator) error {
	return r.RegisterCreatorAt(ctx, cmd, time.Time{})
}
func (r *backdateRecorder) RegisterCreatorAt(_ context.Context, _ catalog.RegisterCreator, at time.Time) error {
	r.record("RegisterCreator", at)
	return nil
}
func (r *backdateRecorder) RegisterAnalyst(ctx context.Context, cmd catalog.RegisterAnalyst) error {
	return r.RegisterAnalystAt(ctx, cmd, time.Time{})
}
func (r *backdateRecorder) RegisterAnalystAt(_ context.Context, _ catalog.RegisterAnalyst, at time.Time) error {
	r.record("RegisterAnalyst", at)
	return nil
}

// commandName names the commands the test sends.
func commandName(cmd catalog.BrandCommand) string {
	switch cmd.(type) {
	case catalog.RegisterBrand:
		return "RegisterBrand"
	case catalog.PublishOffer:
		return "PublishOffer"
	}
	return "another command"
}

// TestBackdatedRequests: a request with X-Occurred-At is recorded at that
// time only by an engine that allows backdating, on a route that records a
// catalog change, with the operator's token, for a time not in the future;
// otherwise it is refused with the contract's error and nothing is
// recorded. Without the header nothing changes.
func TestBackdatedRequests(t *testing.T) {
	now := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	past := "2026-10-07T09:00:00Z"
	offer := `{"name":"Sale","payout":{"type":"fixed","value":"150.00","currency":"RUB"},"countries":["RU"],"platforms":["vk"],"hold_days":14}`
	cases := []struct {
		name       string
		off        bool // the engine does not allow backdating
		method     string
		path       string
		token      string
		header     map[string]string
		body       string
		fail       *commands.Failure
		wantStatus int
		wantField  string
		want       []string
	}{
		{name: "brand registered in the past", method: "POST", path: "/v1/brands", token: tokAdmin,
			header: map[string]string{api.HeaderOccurredAt: past}, body: `{"name":"Acme"}`,
			wantStatus: 201, want: []string{"RegisterBrand at " + past}},
		{name: "without the header nothing changes", method: "POST", path: "/v1/brands", token: tokAdmin,
			body: `{"name":"Acme"}`, wantStatus: 201, want: []string{"RegisterBrand"}},
		{name: "refused when the engine does not allow it", off: true, method: "POST", path: "/v1/brands", token: tokAdmin,
			header: map[string]string{api.HeaderOccurredAt: past}, body: `{"name":"Acme"}`, wantStatus: 403},
		{name: "a brand's offer with the operator's token", method: "POST", path: "/v1/offers", token: tokBrand1,
			header: map[string]string{api.HeaderOccurredAt: past, api.HeaderAdminToken: tokAdmin}, body: offer,
			wantStatus: 404, want: []string{"PublishOffer at " + past}},
		{name: "a brand's offer without the operator's token", method: "POST", path: "/v1/offers", token: tokBrand1,
			header: map[string]string{api.HeaderOccurredAt: past}, body: offer, wantStatus: 403},
		{name: "a brand's offer with a wrong operator's token", method: "POST", path: "/v1/offers", token: tokBrand1,
			header: map[string]string{api.HeaderOccurredAt: past, api.HeaderAdminToken: tokBrand1}, body: offer, wantStatus: 403},
		{name: "a creator registered in the past", method: "POST", path: "/v1/creators", token: tokAdmin,
			header: map[string]string{api.HeaderOccurredAt: past}, body: `{"name":"Anna","email":"anna@example.com"}`,
			wantStatus: 201, want: []string{"RegisterCreator at " + past}},
		{name: "an analyst registered in the past", method: "POST", path: "/v1/analysts", token: tokAdmin,
			header: map[string]string{api.HeaderOccurredAt: past}, body: `{"name":"Ops"}`,
			wantStatus: 201, want: []string{"RegisterAnalyst at " + past}},
		{name: "in the future", method: "POST", path: "/v1/brands", token: tokAdmin,
			header: map[string]string{api.HeaderOccurredAt: now.Add(time.Second).Format(time.RFC3339)}, body: `{"name":"Acme"}`,
			wantStatus: 400, wantField: api.HeaderOccurredAt},
		{name: "not a time", method: "POST", path: "/v1/brands", token: tokAdmin,
			header: map[string]string{api.HeaderOccurredAt: "yesterday"}, body: `{"name":"Acme"}`,
			wantStatus: 400, wantField: api.HeaderOccurredAt},
		{name: "a route that cannot be backdated", method: "POST", path: "/v1/credentials/rotate", token: tokBrand1,
			header: map[string]string{api.HeaderOccurredAt: past, api.HeaderAdminToken: tokAdmin}, body: `{"kind":"api_key"}`,
			wantStatus: 400, wantField: api.HeaderOccurredAt},
		{name: "the deciders' refusal names the header", method: "POST", path: "/v1/brands", token: tokAdmin,
			header: map[string]string{api.HeaderOccurredAt: past}, body: `{"name":"Acme"}`,
			fail:       &commands.Failure{Kind: commands.FailInvalid, Field: "occurred_at", Message: "this engine does not accept backdated commands"},
			wantStatus: 400, wantField: api.HeaderOccurredAt, want: []string{"RegisterBrand at " + past}},
		{name: "the deciders' conflict", method: "POST", path: "/v1/brands", token: tokAdmin,
			header: map[string]string{api.HeaderOccurredAt: past}, body: `{"name":"Acme"}`,
			fail:       &commands.Failure{Kind: commands.FailConflict, Message: "before the brand's latest change"},
			wantStatus: 409, want: []string{"RegisterBrand at " + past}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &backdateRecorder{fail: tc.fail}
			cfg := api.Config{Commands: rec, Registrar: rec, Catalog: tenancyCatalog{tenancyCallers}, AdminToken: tokAdmin,
				MasterKey: make([]byte, 32), Now: func() time.Time { return now }, Rotator: unusedRotator{}}
			if !tc.off {
				cfg.Backdating = rec
			}
			srv, err := api.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			mux := api.NewMux()
			srv.Register(mux)
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+tc.token)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			var body struct {
				Error struct {
					Field   string `json:"field"`
					Message string `json:"message"`
				} `json:"error"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != tc.wantStatus || body.Error.Field != tc.wantField {
				t.Fatalf("%s %s = %d %s, want %d with field %q", tc.method, tc.path, w.Code, w.Body, tc.wantStatus, tc.wantField)
			}
			if got := rec.take(); strings.Join(got, "; ") != strings.Join(tc.want, "; ") {
				t.Fatalf("recorded %q, want %q", got, tc.want)
			}
		})
	}
}

// unusedRotator refuses every token rotation; brands' rotations go
// through Commands.
type unusedRotator struct{}

func (unusedRotator) RotateCreatorToken(context.Context, catalog.RotateToken) (catalog.Credential, error) {
	return catalog.Credential{}, http.ErrNotSupported
}
func (unusedRotator) RotateAnalystToken(context.Context, catalog.RotateToken) (catalog.Credential, error) {
	return catalog.Credential{}, http.ErrNotSupported
}
