package commands_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/commands"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/eventstore/embedded"
	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/schemas"
)

type harness struct {
	store   *eventstore.Store
	redis   *redis.Client
	replies *commands.RedisReplies
	client  *commands.Client
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	b, err := embedded.Start(embedded.Config{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	store, err := eventstore.Open(context.Background(), eventstore.Config{Brokers: b.Addrs(), Partitions: 4, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := store.EnsureTopics(context.Background(), eventstore.TopicSpec{Name: schemas.TopicCatalog}, commands.TopicSpec(4)); err != nil {
		t.Fatal(err)
	}
	replies := commands.NewRedisReplies(rdb, prefix)
	return &harness{store: store, redis: rdb, replies: replies, client: commands.NewClient(store, replies, 20*time.Second)}
}

// runProcessor runs a processor in the commands group until the test ends
// or stop is called.
func (h *harness) runProcessor(t *testing.T) (stop func()) {
	t.Helper()
	return h.runProcessorWith(t, func(*commands.ProcessorConfig) {})
}

// runProcessorWith is runProcessor with the configuration changed by set.
func (h *harness) runProcessorWith(t *testing.T, set func(*commands.ProcessorConfig)) (stop func()) {
	t.Helper()
	cfg := commands.ProcessorConfig{Store: h.store, Replier: h.replies, Logger: quietLogger()}
	set(&cfg)
	p, err := commands.NewProcessor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := eventstore.NewSubscriber(h.store, eventstore.SubscriberConfig{
		Group: commands.Group, Topics: []string{commands.Topic}, Handler: p.Handler(), Logger: quietLogger(),
		SessionTimeout: 6 * time.Second, RebalanceTimeout: 6 * time.Second, HeartbeatInterval: 300 * time.Millisecond,
		RetryMin: 20 * time.Millisecond, RetryMax: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = sub.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func (h *harness) send(t *testing.T, cmd catalog.BrandCommand) commands.Result {
	t.Helper()
	r, err := h.client.Send(context.Background(), cmd, "")
	if err != nil {
		t.Fatalf("send %T: %v", cmd, err)
	}
	return r
}

func mustOK(t *testing.T, r commands.Result) {
	t.Helper()
	if r.Failure != nil {
		t.Fatalf("command %s refused: %+v", r.CommandID, r.Failure)
	}
}

func setupBrand(t *testing.T, h *harness, brandID string, requests int) []string {
	t.Helper()
	mustOK(t, h.send(t, catalog.RegisterBrand{BrandID: brandID, Name: "Brand " + brandID,
		APIKeyHash: fmt.Sprintf("%064x", 1), WebhookSecretSalt: "salt"}))
	mustOK(t, h.send(t, catalog.PublishOffer{BrandID: brandID, OfferID: brandID + "-offer", Name: "Spring",
		Payout:    schemas.Payout{Type: schemas.PayoutFixed, Value: "150.00", Currency: "RUB"},
		Countries: []string{"RU"}, Platforms: []string{"instagram"}, HoldDays: 30}))
	var ids []string
	for i := range requests {
		id := fmt.Sprintf("%s-req-%d", brandID, i)
		r := h.send(t, catalog.RequestCode{BrandID: brandID, OfferID: brandID + "-offer", RequestID: id,
			CreatorID: fmt.Sprintf("creator-%d", i), Platform: "instagram"})
		mustOK(t, r)
		if r.Request == nil || r.Request.Status != catalog.RequestModeration {
			t.Fatalf("request result %+v, want status moderation", r.Request)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestRacingConfirmsOneWins: 20 confirms of one code text at one brand, sent
// at once, give exactly one confirmed request and 19 conflicts; the same
// text at another brand is fine; after a restart the processor, rebuilt
// from the log, still refuses the text.
func TestRacingConfirmsOneWins(t *testing.T) {
	h := newHarness(t)
	stop := h.runProcessor(t)
	reqs := setupBrand(t, h, "brand-a", 20)

	results := make([]commands.Result, len(reqs))
	var wg sync.WaitGroup
	for i, id := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Different spellings of one code: case, spaces, a Cyrillic А.
			text := []string{"ANNA10", "anna10", " Anna10 ", "АNNA10"}[i%4]
			results[i] = h.send(t, catalog.ConfirmCode{BrandID: "brand-a", RequestID: id, Code: text})
		}()
	}
	wg.Wait()
	var won, conflicts int
	for _, r := range results {
		switch {
		case r.Failure == nil:
			won++
			if r.Request == nil || r.Request.Status != catalog.RequestConfirmed || r.Request.NormalizedCode != "ANNA10" {
				t.Errorf("winning result %+v, want a confirmed request with code ANNA10", r.Request)
			}
		case r.Failure.Kind == commands.FailConflict:
			conflicts++
		default:
			t.Errorf("unexpected refusal %+v", r.Failure)
		}
	}
	if won != 1 || conflicts != 19 {
		t.Fatalf("%d confirmed and %d conflicts, want 1 and 19", won, conflicts)
	}

	other := setupBrand(t, h, "brand-b", 1)
	mustOK(t, h.send(t, catalog.ConfirmCode{BrandID: "brand-b", RequestID: other[0], Code: "anna10"}))

	// A new processor rebuilds the brands from the log.
	stop()
	h.runProcessor(t)
	r := h.send(t, catalog.ConfirmCode{BrandID: "brand-a", RequestID: "brand-a-req-0", Code: "ANNA10"})
	if r.Failure == nil || r.Failure.Kind != commands.FailConflict {
		t.Fatalf("after restart, confirming a decided request gave %+v, want a conflict", r)
	}
}

// TestRefusalsKeepTheirKind: refusals come back with the kind and field the
// API maps to status codes.
func TestRefusalsKeepTheirKind(t *testing.T) {
	h := newHarness(t)
	h.runProcessor(t)
	setupBrand(t, h, "brand-c", 1)
	cases := []struct {
		name      string
		cmd       catalog.BrandCommand
		kind      string
		wantField string
	}{
		{"unknown offer", catalog.RequestCode{BrandID: "brand-c", OfferID: "nope", RequestID: "r-x", CreatorID: "c", Platform: "instagram"}, commands.FailNotFound, ""},
		{"unknown request", catalog.ConfirmCode{BrandID: "brand-c", RequestID: "nope", Code: "X1"}, commands.FailNotFound, ""},
		{"bad code text", catalog.ConfirmCode{BrandID: "brand-c", RequestID: "brand-c-req-0", Code: "no spaces!"}, commands.FailInvalid, "code"},
		{"bad payout", catalog.PublishOffer{BrandID: "brand-c", OfferID: "o2", Name: "X",
			Payout:    schemas.Payout{Type: schemas.PayoutPercent, Value: "150", Currency: "RUB"},
			Countries: []string{"RU"}, Platforms: []string{"vk"}}, commands.FailInvalid, "payout.value"},
		{"duplicate request", catalog.RequestCode{BrandID: "brand-c", OfferID: "brand-c-offer", RequestID: "r-dup", CreatorID: "creator-0", Platform: "instagram"}, commands.FailConflict, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.send(t, tc.cmd)
			if r.Failure == nil || r.Failure.Kind != tc.kind || r.Failure.Field != tc.wantField {
				t.Fatalf("got %+v, want kind %s field %q", r.Failure, tc.kind, tc.wantField)
			}
		})
	}
}
