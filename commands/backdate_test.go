package commands_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/commands"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/schemas"
)

// keyLog returns the catalog events keyed key (a brand's, a creator's id)
// in log order.
func (h *harness) keyLog(t *testing.T, key string) []schemas.Envelope {
	t.Helper()
	n, err := h.store.Partitions(context.Background(), schemas.TopicCatalog)
	if err != nil {
		t.Fatal(err)
	}
	var out []schemas.Envelope
	err = h.store.ReplayPartition(context.Background(), schemas.TopicCatalog, eventstore.PartitionOf(key, n),
		eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
			for _, m := range b.Messages {
				if m.Envelope.AggregateKey == key {
					out = append(out, m.Envelope)
				}
			}
			return nil
		}), eventstore.ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (h *harness) sendAt(t *testing.T, cmd catalog.BrandCommand, at time.Time) commands.Result {
	t.Helper()
	r, err := h.client.SendAt(context.Background(), cmd, "", at)
	if err != nil {
		t.Fatalf("send %T at %v: %v", cmd, at, err)
	}
	return r
}

// backdatedBrand is the commands that set up brand id with one confirmed
// code, each to be sent at its own past time.
func backdatedBrand(id string, start time.Time) []struct {
	cmd catalog.BrandCommand
	at  time.Time
} {
	day := 24 * time.Hour
	return []struct {
		cmd catalog.BrandCommand
		at  time.Time
	}{
		{catalog.RegisterBrand{BrandID: id, Name: "Brand " + id, APIKeyHash: fmt.Sprintf("%064x", 1), WebhookSecretSalt: "salt"}, start},
		{catalog.PublishOffer{BrandID: id, OfferID: id + "-offer", Name: "Spring",
			Payout:    schemas.Payout{Type: schemas.PayoutFixed, Value: "150.00", Currency: "RUB"},
			Countries: []string{"RU"}, Platforms: []string{"instagram"}, HoldDays: 14}, start.Add(time.Hour)},
		{catalog.RequestCode{BrandID: id, OfferID: id + "-offer", RequestID: id + "-req", CreatorID: "creator-1", Platform: "instagram"}, start.Add(2 * time.Hour)},
		{catalog.ConfirmCode{BrandID: id, RequestID: id + "-req", Code: "ANNA10"}, start.Add(day)},
	}
}

// TestBackdatedCommandsRefusedWhenOff: a processor without AllowBackdating
// refuses a backdated command as invalid (field occurred_at) and records
// nothing for it.
func TestBackdatedCommandsRefusedWhenOff(t *testing.T) {
	h := newHarness(t)
	h.runProcessor(t)
	at := time.Now().Add(-60 * 24 * time.Hour)
	for _, c := range backdatedBrand("brand-off", at)[:1] {
		r := h.sendAt(t, c.cmd, c.at)
		if r.Failure == nil || r.Failure.Kind != commands.FailInvalid || r.Failure.Field != "occurred_at" {
			t.Fatalf("backdated %T on a processor without backdating: %+v, want invalid occurred_at", c.cmd, r.Failure)
		}
	}
	if got := h.keyLog(t, "brand-off"); len(got) != 0 {
		t.Fatalf("refused backdated command recorded %d events: %+v", len(got), got)
	}
	// The same command at the processor's clock is fine.
	mustOK(t, h.send(t, backdatedBrand("brand-off", at)[0].cmd))
}

// TestBackdatedCommandsTakeEffectInThePast: with AllowBackdating, a brand
// set up at past times has events whose occurred_at is each command's time
// and whose recorded_at is now; the state's times follow; a command before
// the brand's latest change is a conflict, one in the future invalid, and
// neither records anything.
func TestBackdatedCommandsTakeEffectInThePast(t *testing.T) {
	h := newHarness(t)
	h.runProcessorWith(t, func(c *commands.ProcessorConfig) { c.AllowBackdating = true })
	begin := time.Now()
	start := begin.Add(-62 * 24 * time.Hour).Truncate(time.Millisecond)
	steps := backdatedBrand("brand-past", start)
	var last commands.Result
	for _, s := range steps {
		last = h.sendAt(t, s.cmd, s.at)
		mustOK(t, last)
	}
	if q := last.Request; q == nil || !q.DecidedAt.Equal(steps[3].at) || !q.RequestedAt.Equal(steps[2].at) {
		t.Fatalf("confirmed request %+v, want requested at %v and decided at %v", q, steps[2].at, steps[3].at)
	}
	log := h.keyLog(t, "brand-past")
	if len(log) != len(steps) {
		t.Fatalf("%d events in the log, want %d", len(log), len(steps))
	}
	for i, env := range log {
		if !env.OccurredAt.Equal(steps[i].at) {
			t.Errorf("%s occurred at %v, want %v", env.Type, env.OccurredAt, steps[i].at)
		}
		if env.RecordedAt.Before(begin) {
			t.Errorf("%s recorded at %v, want the processor's clock (after %v)", env.Type, env.RecordedAt, begin)
		}
	}

	cases := []struct {
		name  string
		at    time.Time
		kind  string
		field string
	}{
		{"before the brand's latest change", steps[3].at.Add(-time.Minute), commands.FailConflict, ""},
		{"in the future", time.Now().Add(time.Hour), commands.FailInvalid, "occurred_at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.sendAt(t, catalog.RevokeCode{BrandID: "brand-past", Code: "anna10"}, tc.at)
			if r.Failure == nil || r.Failure.Kind != tc.kind || r.Failure.Field != tc.field {
				t.Fatalf("revoke at %v: %+v, want kind %s field %q", tc.at, r.Failure, tc.kind, tc.field)
			}
		})
	}
	if got := h.keyLog(t, "brand-past"); len(got) != len(steps) {
		t.Fatalf("refused commands recorded events: %d in the log, want %d", len(got), len(steps))
	}
	// After the latest change, a revocation in the past is fine.
	r := h.sendAt(t, catalog.RevokeCode{BrandID: "brand-past", Code: "anna10"}, steps[3].at.Add(time.Hour))
	mustOK(t, r)
	if r.Code == nil || !r.Code.RevokedAt.Equal(steps[3].at.Add(time.Hour)) {
		t.Fatalf("revoked code %+v, want revoked at %v", r.Code, steps[3].at.Add(time.Hour))
	}
}

// TestBackdatedRegistrations: Principals records a registration at a past
// time only with AllowBackdating, and never in the future; a refused one
// appends nothing.
func TestBackdatedRegistrations(t *testing.T) {
	h := newHarness(t)
	past := time.Now().Add(-62 * 24 * time.Hour).Truncate(time.Millisecond)
	cases := []struct {
		name    string
		allow   bool
		at      time.Time
		wantErr bool
	}{
		{"refused when off", false, past, true},
		{"in the past", true, past, false},
		{"in the future", true, time.Now().Add(time.Hour), true},
		{"now when off", false, time.Time{}, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &commands.Principals{Store: h.store, AllowBackdating: tc.allow}
			id := fmt.Sprintf("crt-backdated-%d", i)
			before := time.Now()
			err := p.RegisterCreatorAt(context.Background(), catalog.RegisterCreator{CreatorID: id, Name: "Anna",
				Email: "anna@example.com", TokenHash: fmt.Sprintf("%064x", i)}, tc.at)
			log := h.keyLog(t, id)
			if tc.wantErr {
				var ve *catalog.ValidationError
				if !errors.As(err, &ve) || ve.Field != "occurred_at" || len(log) != 0 {
					t.Fatalf("error %v and %d events, want a ValidationError for occurred_at and none", err, len(log))
				}
				return
			}
			if err != nil || len(log) != 1 {
				t.Fatalf("error %v and %d events, want one event", err, len(log))
			}
			want := tc.at
			if want.IsZero() {
				want = log[0].RecordedAt
			}
			if !log[0].OccurredAt.Equal(want) || log[0].RecordedAt.Before(before) {
				t.Fatalf("occurred at %v, recorded at %v; want %v and after %v", log[0].OccurredAt, log[0].RecordedAt, want, before)
			}
		})
	}
}
