package rediscatalog_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/attribution"
	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
	"github.com/attrib-engine/attrib/schemas"
)

// checkAgainstAggregates compares every read of the projection with the
// queries of the aggregates that folded the same log.
func checkAgainstAggregates(t *testing.T, p *rediscatalog.Projection, w *world) {
	t.Helper()
	ctx := context.Background()

	// Principals, brands, creators.
	for id, b := range w.brands {
		got, ok, err := p.Brand(ctx, id)
		want := rediscatalog.BrandView{ID: id, Name: b.Name(), WebhookSecretSalt: b.WebhookSecretSalt(), RegisteredAt: b.RegisteredAt()}
		if err != nil || !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("Brand(%s) = %+v, %v, %v; want %+v", id, got, ok, err, want)
		}
		checkPrincipal(t, p, b.APIKeyHash(), rediscatalog.Principal{Role: rediscatalog.RoleBrand, ID: id, Name: b.Name(), BrandID: id})
	}
	for id, c := range w.creators {
		got, ok, err := p.Creator(ctx, id)
		want := rediscatalog.CreatorView{ID: id, Name: c.Name, Email: c.Email, RegisteredAt: c.RegisteredAt}
		if err != nil || !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("Creator(%s) = %+v, %v, %v; want %+v", id, got, ok, err, want)
		}
		checkPrincipal(t, p, c.TokenHash, rediscatalog.Principal{Role: rediscatalog.RoleCreator, ID: id, Name: c.Name})
	}
	for id, a := range w.analysts {
		checkPrincipal(t, p, a.TokenHash, rediscatalog.Principal{Role: rediscatalog.RoleAnalyst, ID: id, Name: a.Name})
	}
	ids, wantNames := []string{"creator-nope"}, map[string]string{}
	for id, c := range w.creators {
		ids, wantNames[id] = append(ids, id), c.Name
	}
	if got, err := p.CreatorNames(ctx, ids); err != nil || !reflect.DeepEqual(got, wantNames) {
		t.Errorf("CreatorNames(%v) = %v, %v; want %v (the unknown id left out)", ids, got, err, wantNames)
	}
	checkCredentials(t, p, w)
	if _, ok, err := p.Principal(ctx, sha("nobody")); ok || err != nil {
		t.Errorf("Principal(unknown) = %v, %v; want not found", ok, err)
	}
	if _, ok, err := p.Brand(ctx, "brand-nope"); ok || err != nil {
		t.Errorf("Brand(unknown) = %v, %v; want not found", ok, err)
	}

	// Offers, one by one, all at once, and as the attribution core reads them.
	var wantOffers []rediscatalog.OfferView
	var offerKeys []attribution.OfferKey
	for id, b := range w.brands {
		for _, o := range b.Offers() {
			want := offerView(b, o)
			wantOffers = append(wantOffers, want)
			offerKeys = append(offerKeys, attribution.OfferKey{BrandID: id, OfferID: o.OfferID})
			got, ok, err := p.Offer(ctx, id, o.OfferID)
			if err != nil || !ok || !reflect.DeepEqual(got, want) {
				t.Errorf("Offer(%s, %s) =\n%+v, %v, %v\nwant\n%+v", id, o.OfferID, got, ok, err, want)
			}
		}
	}
	slices.SortFunc(wantOffers, func(a, b rediscatalog.OfferView) int {
		return cmp.Or(a.PublishedAt.Compare(b.PublishedAt), strings.Compare(a.BrandID, b.BrandID), strings.Compare(a.OfferID, b.OfferID))
	})
	if got, err := p.Offers(ctx); err != nil || !reflect.DeepEqual(got, wantOffers) {
		t.Errorf("Offers() =\n%+v, %v\nwant\n%+v", got, err, wantOffers)
	}
	offers, err := p.LookupOffers(ctx, append(offerKeys, attribution.OfferKey{BrandID: acme, OfferID: "offer-nope"}))
	if err != nil {
		t.Fatalf("LookupOffers: %v", err)
	}
	if len(offers) != len(offerKeys) {
		t.Errorf("LookupOffers returned %d offers, want %d", len(offers), len(offerKeys))
	}
	for _, k := range offerKeys {
		o, _ := w.brands[k.BrandID].Offer(k.OfferID)
		want := attribution.Offer{OfferID: k.OfferID, BrandID: k.BrandID, Name: o.Current().Name}
		for _, v := range o.History {
			want.Changes = append(want.Changes, attribution.TermsChange{EffectiveFrom: v.EffectiveFrom, Payout: v.Payout, HoldDays: v.HoldDays, Status: v.Status})
		}
		if got, ok := offers.Offer(k.BrandID, k.OfferID); !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("LookupOffers %v = %+v, %v; want %+v", k, got, ok, want)
		}
	}

	// Requests, one by one, by brand and by creator.
	byCreator := map[string][]rediscatalog.RequestView{}
	for id, b := range w.brands {
		var byBrand []rediscatalog.RequestView
		for _, r := range b.Requests("") {
			want := requestView(b, r)
			byBrand = append(byBrand, want)
			byCreator[r.CreatorID] = append(byCreator[r.CreatorID], want)
			got, ok, err := p.Request(ctx, r.RequestID)
			if err != nil || !ok || !reflect.DeepEqual(got, want) {
				t.Errorf("Request(%s) =\n%+v, %v, %v\nwant\n%+v", r.RequestID, got, ok, err, want)
			}
		}
		sortNewestFirst(byBrand)
		if got, err := p.RequestsByBrand(ctx, id); err != nil || !reflect.DeepEqual(got, byBrand) {
			t.Errorf("RequestsByBrand(%s) =\n%+v, %v\nwant\n%+v", id, got, err, byBrand)
		}
	}
	for id := range w.creators {
		want := byCreator[id]
		sortNewestFirst(want)
		if got, err := p.RequestsByCreator(ctx, id); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("RequestsByCreator(%s) =\n%+v, %v\nwant\n%+v", id, got, err, want)
		}
	}
	if _, ok, err := p.Request(ctx, "req-nope"); ok || err != nil {
		t.Errorf("Request(unknown) = %v, %v; want not found", ok, err)
	}

	// The code index, record by record and as the attribution core decides
	// with it.
	var codeKeys []attribution.CodeKey
	for id, b := range w.brands {
		texts := map[string]bool{}
		for _, r := range b.Requests(catalog.RequestConfirmed) {
			texts[r.NormalizedCode] = true
		}
		for text := range texts {
			codeKeys = append(codeKeys, attribution.CodeKey{BrandID: id, Normalized: text})
		}
	}
	codes, err := p.LookupCodes(ctx, append(codeKeys, attribution.CodeKey{BrandID: acme, Normalized: "NOPE"}))
	if err != nil {
		t.Fatalf("LookupCodes: %v", err)
	}
	if len(codes) != len(codeKeys) {
		t.Errorf("LookupCodes returned %d keys, want %d", len(codes), len(codeKeys))
	}
	for _, k := range codeKeys {
		var want []attribution.CodeRecord
		for _, c := range w.brands[k.BrandID].Codes(k.Normalized) {
			rec := attribution.CodeRecord{BrandID: c.BrandID, Code: c.NormalizedCode, CreatorID: c.CreatorID, OfferID: c.OfferID,
				RequestID: c.RequestID, Platform: c.Platform, ActiveFrom: c.ActiveFrom}
			if c.Revoked() {
				rec.RevokedAt = ptr(c.RevokedAt)
			}
			want = append(want, rec)
		}
		if got := codes.Lookup(k.BrandID, k.Normalized); !reflect.DeepEqual(got, want) {
			t.Errorf("LookupCodes %v =\n%+v\nwant\n%+v", k, got, want)
		}
	}
	checkAttribution(t, w, codes, offers, codeKeys)
}

// checkAttribution places orders with each code at every instant where
// something changed (and a nanosecond either side) and checks that the
// attribution core, deciding on the projection's lookups, agrees with the
// brand aggregate's MatchAt and TermsAt.
func checkAttribution(t *testing.T, w *world, codes attribution.CodeMap, offers attribution.OfferMap, keys []attribution.CodeKey) {
	t.Helper()
	var instants []time.Time
	for _, env := range w.log {
		instants = append(instants, env.OccurredAt)
	}
	for _, b := range w.brands {
		for _, r := range b.Requests("") {
			instants = append(instants, r.RequestedAt, r.DecidedAt, r.RevokedAt)
		}
		for _, o := range b.Offers() {
			for _, v := range o.History {
				instants = append(instants, v.EffectiveFrom)
			}
		}
	}
	n := 0
	for _, k := range keys {
		b := w.brands[k.BrandID]
		for _, at := range instants {
			if at.IsZero() {
				continue
			}
			for _, t0 := range []time.Time{at.Add(-time.Nanosecond), at, at.Add(time.Nanosecond)} {
				n++
				placed := schemas.OrderPlaced{OrderID: fmt.Sprintf("o-%d", n), BrandID: k.BrandID, ShopEventID: fmt.Sprintf("e-%d", n),
					PromoCodes: []string{strings.ToLower(k.Normalized)}, Amount: "1000.00", Currency: "RUB", Country: "RU"}
				env, err := schemas.NewEnvelopeFor(placed, t0, t0)
				if err != nil {
					t.Fatalf("order envelope: %v", err)
				}
				st := &attribution.OrderState{}
				if _, err := attribution.Apply(st, env, placed); err != nil {
					t.Fatalf("apply order: %v", err)
				}
				out, ok := attribution.Decide(st, codes, offers)
				if !ok {
					t.Fatalf("decide order at %v with %v: nothing to emit (%s)", t0, k, out.Wait)
				}
				code, outcome := b.MatchAt(k.Normalized, t0)
				switch e := out.Event.(type) {
				case schemas.OrderAttributed:
					terms, _, _ := b.TermsAt(code.OfferID, t0)
					if outcome != schemas.OutcomeWon || e.RequestID != code.RequestID || e.Terms != terms {
						t.Errorf("order at %v with %v: attributed to %s on %+v; aggregate says %s %s on %+v",
							t0, k, e.RequestID, e.Terms, outcome, code.RequestID, terms)
					}
				case schemas.OrderUnattributed:
					if e.Reason != outcome {
						t.Errorf("order at %v with %v: unattributed (%s); aggregate says %s %s", t0, k, e.Reason, outcome, code.RequestID)
					}
				default:
					t.Fatalf("decide emitted %T", out.Event)
				}
			}
		}
	}
}

// checkCredentials compares the projection's credentials with the
// aggregates': webhook secret salts, token states, and the end of validity
// of current, previous and retired tokens and keys.
func checkCredentials(t *testing.T, p *rediscatalog.Projection, w *world) {
	t.Helper()
	ctx := context.Background()
	until := func(hash string, role, id, name, brand string, want time.Time) {
		t.Helper()
		checkPrincipal(t, p, hash, rediscatalog.Principal{Role: role, ID: id, Name: name, BrandID: brand, ValidUntil: want})
	}
	for id, b := range w.brands {
		salts, ok, err := p.WebhookSecretSalts(ctx, id)
		if err != nil || !ok || salts != b.WebhookSecret() {
			t.Errorf("WebhookSecretSalts(%s) = %+v, %v, %v; want %+v", id, salts, ok, err, b.WebhookSecret())
		}
		if k := b.APIKey(); k.Previous != "" {
			until(k.Previous, rediscatalog.RoleBrand, id, b.Name(), id, k.PreviousValidUntil)
		}
		conns, err := p.Connectors(ctx, id)
		if err != nil || !reflect.DeepEqual(conns, b.Connectors()) {
			t.Errorf("Connectors(%s) = %+v, %v; want %+v", id, conns, err, b.Connectors())
		}
	}
	for id, c := range w.creators {
		got, ok, err := p.CreatorToken(ctx, id)
		want := catalog.Creator{ID: id, Name: c.Name, Email: c.Email, TokenHash: c.TokenHash, Token: c.Token}
		if err != nil || !ok || got != want {
			t.Errorf("CreatorToken(%s) = %+v, %v, %v; want %+v", id, got, ok, err, want)
		}
		if c.Token.Previous != "" {
			until(c.Token.Previous, rediscatalog.RoleCreator, id, c.Name, "", c.Token.PreviousValidUntil)
		}
	}
	for id, a := range w.analysts {
		got, ok, err := p.AnalystToken(ctx, id)
		want := catalog.Analyst{ID: id, Name: a.Name, TokenHash: a.TokenHash, Token: a.Token}
		if err != nil || !ok || got != want {
			t.Errorf("AnalystToken(%s) = %+v, %v, %v; want %+v", id, got, ok, err, want)
		}
		if a.Token.Previous != "" {
			until(a.Token.Previous, rediscatalog.RoleAnalyst, id, a.Name, "", a.Token.PreviousValidUntil)
		}
	}
	// The values the second rotations retired end at those rotations.
	if b := w.brands[acme]; b != nil && b.APIKey().Previous == sha("key-acme-2") {
		until(sha("key-acme"), rediscatalog.RoleBrand, acme, b.Name(), acme, b.APIKey().RotatedAt)
	}
	if c := w.creators[anna]; c != nil && c.Token.Previous == sha("token-anna-2") {
		until(sha("token-"+anna), rediscatalog.RoleCreator, anna, c.Name, "", c.Token.RotatedAt)
	}
}

func checkPrincipal(t *testing.T, p *rediscatalog.Projection, hash string, want rediscatalog.Principal) {
	t.Helper()
	got, ok, err := p.Principal(context.Background(), hash)
	if err != nil || !ok || got != want {
		t.Errorf("Principal(%s…) = %+v, %v, %v; want %+v", hash[:8], got, ok, err, want)
	}
}

func offerView(b *catalog.Brand, o catalog.Offer) rediscatalog.OfferView {
	cur := o.Current()
	v := rediscatalog.OfferView{
		OfferID: o.OfferID, BrandID: o.BrandID, BrandName: b.Name(), Name: cur.Name, Payout: cur.Payout,
		Countries: cur.Countries, Platforms: cur.Platforms, HoldDays: cur.HoldDays, Status: cur.Status,
		PublishedAt: o.PublishedAt, UpdatedAt: cur.EffectiveFrom,
	}
	for _, h := range o.History {
		v.History = append(v.History, rediscatalog.OfferVersion{EffectiveFrom: h.EffectiveFrom, Name: h.Name, Payout: h.Payout,
			Countries: h.Countries, Platforms: h.Platforms, HoldDays: h.HoldDays, Status: h.Status})
	}
	return v
}

func requestView(b *catalog.Brand, r catalog.Request) rediscatalog.RequestView {
	o, _ := b.Offer(r.OfferID)
	return rediscatalog.RequestView{
		RequestID: r.RequestID, BrandID: r.BrandID, BrandName: b.Name(), OfferID: r.OfferID, OfferName: o.Current().Name,
		CreatorID: r.CreatorID, Platform: r.Platform, Status: r.Status, Code: r.Code, NormalizedCode: r.NormalizedCode,
		Reason: r.Reason, RequestedAt: r.RequestedAt, DecidedAt: r.DecidedAt, RevokedAt: r.RevokedAt,
	}
}

func sortNewestFirst(rs []rediscatalog.RequestView) {
	slices.SortFunc(rs, func(a, b rediscatalog.RequestView) int {
		return cmp.Or(b.RequestedAt.Compare(a.RequestedAt), strings.Compare(b.RequestID, a.RequestID))
	})
}

func dump(t *testing.T, p *rediscatalog.Projection) string {
	t.Helper()
	d, err := p.Dump(context.Background())
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	return d
}

func apply(t *testing.T, h eventstore.PartitionHandler, msgs []eventstore.Message) *eventstore.Batch {
	t.Helper()
	b := batchOf(slices.Clone(msgs))
	if err := h.Handle(context.Background(), b); err != nil {
		t.Fatalf("apply %d events of partition %d at %d: %v", len(msgs), b.Partition, msgs[0].Offset, err)
	}
	for i := range b.Messages {
		if reason, ok := b.Rejected(i); ok {
			t.Fatalf("event %s rejected: %s", b.Messages[i].Envelope.Type, reason)
		}
	}
	return b
}

func handler(t *testing.T, p *rediscatalog.Projection, partition int) eventstore.PartitionHandler {
	t.Helper()
	h, err := p.Handler()(context.Background(), eventstore.Assignment{Group: rediscatalog.Group, Topic: schemas.TopicCatalog, Partition: partition})
	if err != nil {
		t.Fatalf("handler: %v", err)
	}
	return h
}

// TestLiveSubscriberAgreesWithAggregates runs the projection's subscriber
// on a real (embedded) broker over a realistic catalog history and checks
// every read against the aggregates that folded the same log.
func TestLiveSubscriberAgreesWithAggregates(t *testing.T) {
	p, _, _ := newProjection(t)
	s := openStore(t)
	w := history(t)
	ctx := context.Background()
	half := len(w.log) / 2
	if err := s.Append(ctx, schemas.TopicCatalog, w.log[:half]...); err != nil {
		t.Fatalf("append: %v", err)
	}
	runSubscriber(t, s, p)
	waitCaughtUp(t, s, p)
	// The rest arrives while the subscriber runs, in several batches.
	for _, env := range w.log[half:] {
		if err := s.Append(ctx, schemas.TopicCatalog, env); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	waitCaughtUp(t, s, p)
	checkAgainstAggregates(t, p, w)

	// Spot checks of what the history is about, beyond agreement.
	r5, _, _ := p.Request(ctx, r5)
	if r5.Status != catalog.RequestConfirmed || r5.NormalizedCode != "ANNA10" || r5.Code != "\u0410nna10" {
		t.Errorf("r5 = %+v; want confirmed with the re-issued text", r5)
	}
	r1, _, _ := p.Request(ctx, r1)
	if r1.RevokedAt.IsZero() || !r5.DecidedAt.After(r1.RevokedAt) {
		t.Errorf("r1 revoked at %v, r5 confirmed at %v: the slow writer's confirmation must take effect after the revocation", r1.RevokedAt, r5.DecidedAt)
	}
	if r2, _, _ := p.Request(ctx, r2); r2.Status != catalog.RequestRejected || r2.Reason == "" {
		t.Errorf("r2 = %+v; want rejected with a reason", r2)
	}
	summer, _, _ := p.Offer(ctx, acme, summer)
	if summer.Status != schemas.OfferPaused || summer.Name != "Summer hits" || len(summer.History) != 3 {
		t.Errorf("summer offer = %+v; want paused, renamed, 3 versions", summer)
	}
	winter, _, _ := p.Offer(ctx, acme, winter)
	if winter.Payout.Value != fixed200Value || winter.HoldDays != 45 || len(winter.History) != 3 {
		t.Errorf("winter offer = %+v; want 200.00, 45 days, 3 versions (the retried change counted once)", winter)
	}
}

// TestRedeliveryIsIdempotent applies the log in one batch per partition,
// then, into other prefixes, every batch twice, one event at a time through
// a partition handler, and in random batches with older batches redelivered
// after newer ones: the content is the same byte for byte.
func TestRedeliveryIsIdempotent(t *testing.T) {
	w := history(t)
	parts := partitioned(w.log, 3)

	ref, _, _ := newProjection(t)
	for _, msgs := range parts {
		if len(msgs) > 0 {
			apply(t, eventstore.HandlerFunc(ref.Apply), msgs)
		}
	}
	want := dump(t, ref)
	checkAgainstAggregates(t, ref, w)

	cases := []struct {
		name string
		run  func(t *testing.T, p *rediscatalog.Projection, part int, msgs []eventstore.Message)
	}{
		{"every batch twice", func(t *testing.T, p *rediscatalog.Projection, _ int, msgs []eventstore.Message) {
			apply(t, eventstore.HandlerFunc(p.Apply), msgs)
			apply(t, eventstore.HandlerFunc(p.Apply), msgs)
		}},
		{"one event per batch through a handler", func(t *testing.T, p *rediscatalog.Projection, part int, msgs []eventstore.Message) {
			h := handler(t, p, part)
			for i := range msgs {
				apply(t, h, msgs[i:i+1])
			}
		}},
		{"random batches, older ones redelivered", func(t *testing.T, p *rediscatalog.Projection, part int, msgs []eventstore.Message) {
			rng := rand.New(rand.NewPCG(uint64(part), 42))
			h := handler(t, p, part)
			var starts []int
			for i := 0; i < len(msgs); {
				n := 1 + rng.IntN(4)
				starts = append(starts, i)
				apply(t, h, msgs[i:min(i+n, len(msgs))])
				if rng.IntN(2) == 0 {
					// A new owner redelivers from an earlier committed
					// offset, in other batch boundaries.
					from := starts[rng.IntN(len(starts))]
					h2 := handler(t, p, part)
					apply(t, h2, msgs[from:min(i+n, len(msgs))])
				}
				i += n
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, _, _ := newProjection(t)
			for part, msgs := range parts {
				if len(msgs) > 0 {
					tc.run(t, p, part, msgs)
				}
			}
			if got := dump(t, p); got != want {
				t.Errorf("dump differs from one batch per partition:\n--- got\n%s\n--- want\n%s", got, want)
			}
		})
	}
}

// TestRebuildGivesIdenticalContent dumps what the live subscriber built,
// damages it, rebuilds from the log and dumps again: byte-identical, with
// the watermarks at the partition ends.
func TestRebuildGivesIdenticalContent(t *testing.T) {
	p, _, rdb := newProjection(t)
	s := openStore(t)
	w := history(t)
	ctx := context.Background()
	for _, env := range w.log {
		if err := s.Append(ctx, schemas.TopicCatalog, env); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	_, stop := runSubscriber(t, s, p)
	waitCaughtUp(t, s, p)
	stop()
	before := dump(t, p)
	if !strings.Contains(before, `"code:brand-acme:ANNA10" hash`) {
		t.Fatalf("dump lacks the code index:\n%s", before)
	}

	// Damage: a lost key, a stray key, a wrong value.
	rdb.Del(ctx, p.Prefix()+"offers")
	rdb.Set(ctx, p.Prefix()+"stray", "x", 0)
	rdb.HSet(ctx, p.Prefix()+"brand:"+acme, "name", "Wrong")
	if dump(t, p) == before {
		t.Fatal("damage did not change the dump")
	}

	var last eventstore.ReplayProgress
	if err := rediscatalog.Rebuild(ctx, s, p, func(pr eventstore.ReplayProgress) { last = pr }); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if last.Read != int64(len(w.log)) || last.Total != int64(len(w.log)) {
		t.Errorf("last progress %+v; want %d of %d read", last, len(w.log), len(w.log))
	}
	if after := dump(t, p); after != before {
		t.Errorf("rebuilt dump differs:\n--- after\n%s\n--- before\n%s", after, before)
	}
	bounds, err := s.Bounds(ctx, schemas.TopicCatalog)
	if err != nil {
		t.Fatal(err)
	}
	wms, err := p.Watermarks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bounds {
		if wms[b.Partition].Offset != b.End {
			t.Errorf("partition %d: watermark %d after rebuild, want the end %d", b.Partition, wms[b.Partition].Offset, b.End)
		}
	}
	checkAgainstAggregates(t, p, w)
}

// TestWatermark checks that a partition's watermark follows the offsets
// and the latest occurred_at applied, never moves back, and advances past
// rejected events too.
func TestWatermark(t *testing.T) {
	p, _, _ := newProjection(t)
	ctx := context.Background()
	w := history(t)
	msgs := partitioned(w.log, 1)[0]
	for i := range msgs {
		msgs[i].Partition = 2
	}
	if wm, err := p.Watermark(ctx, 2); err != nil || wm != (rediscatalog.Watermark{}) {
		t.Fatalf("watermark before anything = %+v, %v; want zero", wm, err)
	}
	latest := func(msgs []eventstore.Message) time.Time {
		var l time.Time
		for _, m := range msgs {
			if m.Envelope.OccurredAt.After(l) {
				l = m.Envelope.OccurredAt
			}
		}
		return l
	}
	check := func(what string, want rediscatalog.Watermark) {
		t.Helper()
		got, err := p.Watermark(ctx, 2)
		if err != nil || got.Offset != want.Offset || !got.OccurredAt.Equal(want.OccurredAt) {
			t.Errorf("%s: watermark %+v, %v; want %+v", what, got, err, want)
		}
	}
	apply(t, eventstore.HandlerFunc(p.Apply), msgs[:5])
	check("first batch", rediscatalog.Watermark{Offset: 5, OccurredAt: latest(msgs[:5])})
	apply(t, eventstore.HandlerFunc(p.Apply), msgs[5:12])
	want := rediscatalog.Watermark{Offset: 12, OccurredAt: latest(msgs[:12])}
	check("second batch", want)
	apply(t, eventstore.HandlerFunc(p.Apply), msgs[3:8])
	check("an older batch redelivered", want)

	// A batch of only a poison event still moves the offset on.
	poison := msgs[12]
	poison.Envelope.Type = "offer.retired"
	poison.Envelope.OccurredAt = poison.Envelope.OccurredAt.Add(time.Hour)
	b := batchOf([]eventstore.Message{poison})
	if err := p.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Rejected(0); !ok {
		t.Fatal("unknown event type not rejected")
	}
	want.Offset = 13
	check("a rejected event", want)

	apply(t, eventstore.HandlerFunc(p.Apply), msgs[13:])
	want = rediscatalog.Watermark{Offset: int64(len(msgs)), OccurredAt: latest(msgs)}
	check("the rest", want)
	all, err := p.Watermarks(ctx)
	if err != nil || len(all) != 1 || all[2].Offset != want.Offset || !all[2].OccurredAt.Equal(want.OccurredAt) {
		t.Errorf("Watermarks() = %+v, %v; want only partition 2 at %+v", all, err, want)
	}
}

// TestLookupsAreOneRoundTrip looks up 500 codes, and every offer, with one
// pipelined round trip each.
func TestLookupsAreOneRoundTrip(t *testing.T) {
	p, counter, _ := newProjection(t)
	ctx := context.Background()
	w := history(t)
	for _, msgs := range partitioned(w.log, 2) {
		apply(t, eventstore.HandlerFunc(p.Apply), msgs)
	}
	keys := []attribution.CodeKey{{BrandID: acme, Normalized: "ANNA10"}, {BrandID: bolt, Normalized: "ANNA10"}, {BrandID: acme, Normalized: "CARL-5"}}
	for i := len(keys); i < 500; i++ {
		keys = append(keys, attribution.CodeKey{BrandID: []string{acme, bolt}[i%2], Normalized: fmt.Sprintf("CODE%d", i)})
	}
	counter.Reset()
	codes, err := p.LookupCodes(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if c, pl := counter.Commands.Load(), counter.Pipelines.Load(); c != 0 || pl != 1 {
		t.Errorf("LookupCodes of %d keys: %d commands and %d pipelines; want one pipeline", len(keys), c, pl)
	}
	if len(codes) != 3 || len(codes.Lookup(acme, "ANNA10")) != 2 || len(codes.Lookup(bolt, "ANNA10")) != 1 {
		t.Errorf("LookupCodes = %+v; want ANNA10 twice at acme, once at bolt, and CARL-5", codes)
	}

	counter.Reset()
	offers, err := p.LookupOffers(ctx, []attribution.OfferKey{{BrandID: acme, OfferID: winter}, {BrandID: acme, OfferID: summer}, {BrandID: bolt, OfferID: boltOffer}})
	if err != nil {
		t.Fatal(err)
	}
	if c, pl := counter.Commands.Load(), counter.Pipelines.Load(); c != 0 || pl != 1 {
		t.Errorf("LookupOffers: %d commands and %d pipelines; want one pipeline", c, pl)
	}
	if len(offers) != 3 {
		t.Errorf("LookupOffers = %+v; want 3 offers", offers)
	}

	for _, tc := range []struct {
		name string
		read func() error
		want int64
	}{
		{"Principal", func() error { _, _, err := p.Principal(ctx, sha("key-acme")); return err }, 1},
		{"Brand", func() error { _, _, err := p.Brand(ctx, acme); return err }, 1},
		{"Creator", func() error { _, _, err := p.Creator(ctx, anna); return err }, 1},
		{"CreatorNames", func() error { _, err := p.CreatorNames(ctx, []string{anna, "nobody", anna}); return err }, 1},
		{"Offer", func() error { _, _, err := p.Offer(ctx, acme, winter); return err }, 1},
		{"Offers", func() error { _, err := p.Offers(ctx); return err }, 2},
		{"Request", func() error { _, _, err := p.Request(ctx, r1); return err }, 2},
		{"RequestsByCreator", func() error { _, err := p.RequestsByCreator(ctx, anna); return err }, 3},
		{"RequestsByBrand", func() error { _, err := p.RequestsByBrand(ctx, acme); return err }, 3},
		{"Watermark", func() error { _, err := p.Watermark(ctx, 0); return err }, 1},
		{"Watermarks", func() error { _, err := p.Watermarks(ctx); return err }, 1},
	} {
		counter.Reset()
		if err := tc.read(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if got := counter.Commands.Load() + counter.Pipelines.Load(); got != tc.want {
			t.Errorf("%s: %d round trips, want %d", tc.name, got, tc.want)
		}
	}
}

// TestPoisonGoesToDeadLetter: an event of an unknown type and an order
// event on the catalog topic go to the dead-letter topic with their reason;
// the events around them are applied.
func TestPoisonGoesToDeadLetter(t *testing.T) {
	p, _, _ := newProjection(t)
	s := openStore(t)
	w := history(t)
	ctx := context.Background()
	at := w.log[10].OccurredAt
	unknown := schemas.Envelope{EventID: schemas.NewEventID(), Type: "offer.retired", SchemaVersion: 1, AggregateKey: acme, BrandID: acme,
		OccurredAt: at, RecordedAt: at, Payload: []byte(`{"offer_id":"offer-winter"}`)}
	order, err := schemas.NewEnvelopeFor(schemas.OrderPlaced{OrderID: "A-1", BrandID: acme, ShopEventID: "s-1", PromoCodes: []string{"anna10"},
		Amount: "10.00", Currency: "RUB", Country: "RU"}, at, at)
	if err != nil {
		t.Fatal(err)
	}
	log := slices.Concat(w.log[:10], []schemas.Envelope{unknown, order}, w.log[10:])
	if err := s.Append(ctx, schemas.TopicCatalog, log...); err != nil {
		t.Fatalf("append: %v", err)
	}
	sub, _ := runSubscriber(t, s, p)
	waitCaughtUp(t, s, p)
	checkAgainstAggregates(t, p, w)

	reasons := map[string]string{}
	err = s.Replay(ctx, sub.DeadLetterTopic(), eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
		for _, m := range b.Messages {
			reasons[m.Envelope.EventID] = eventstore.HeaderValue(m.Headers, eventstore.HeaderDLQReason)
		}
		return nil
	}), eventstore.ReplayOptions{})
	if err != nil {
		t.Fatalf("read dead letters: %v", err)
	}
	if len(reasons) != 2 || !strings.Contains(reasons[unknown.EventID], "offer.retired") ||
		!strings.Contains(reasons[order.EventID], "not a catalog event") {
		t.Errorf("dead letters %q; want the unknown type and the order event, with reasons", reasons)
	}
}

// TestIDsWithSeparatorsDoNotCollide: ids may contain ':', '%' and braces;
// keys escape them, so the code "C" of brand "a:B" is not found by looking
// up the text "B:C" at brand "a".
func TestIDsWithSeparatorsDoNotCollide(t *testing.T) {
	p, _, _ := newProjection(t)
	ctx := context.Background()
	w := newWorld(t)
	w.registerCreator("c%1", "Percy")
	for _, brand := range []string{"a:B", "a", "{x}"} {
		w.do(catalog.RegisterBrand{BrandID: brand, Name: "Brand " + brand, APIKeyHash: sha("key-" + brand), WebhookSecretSalt: "salt"})
		w.do(catalog.PublishOffer{BrandID: brand, OfferID: "o:1", Name: "Offer", Payout: schemas.Payout{Type: schemas.PayoutFixed, Value: "1.00", Currency: "RUB"},
			Countries: []string{"RU"}, Platforms: []string{"vk"}})
		w.do(catalog.RequestCode{BrandID: brand, OfferID: "o:1", RequestID: "r:" + brand, CreatorID: "c%1", Platform: "vk"})
	}
	w.do(catalog.ConfirmCode{BrandID: "a:B", RequestID: "r:a:B", Code: "C"})
	w.do(catalog.ConfirmCode{BrandID: "{x}", RequestID: "r:{x}", Code: "X"})
	apply(t, eventstore.HandlerFunc(p.Apply), partitioned(w.log, 1)[0])
	checkAgainstAggregates(t, p, w)
	codes, err := p.LookupCodes(ctx, []attribution.CodeKey{{BrandID: "a", Normalized: "B:C"}, {BrandID: "a:B", Normalized: "C"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(codes.Lookup("a", "B:C")) != 0 || len(codes.Lookup("a:B", "C")) != 1 {
		t.Errorf("LookupCodes = %+v; want only C at a:B", codes)
	}
	if got, err := p.RequestsByCreator(ctx, "c%1"); err != nil || len(got) != 3 {
		t.Errorf("RequestsByCreator(c%%1) = %d requests, %v; want 3", len(got), err)
	}
}

func TestConfig(t *testing.T) {
	if _, err := rediscatalog.New(rediscatalog.Config{}); err == nil {
		t.Error("New without a client: no error")
	}
}

// TestRedisDownIsAnError: when Redis does not answer, Apply returns the
// error (the subscriber retries the batch) and rejects nothing.
func TestRedisDownIsAnError(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	defer client.Close()
	p, err := rediscatalog.New(rediscatalog.Config{Client: client, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w := history(t)
	b := batchOf(partitioned(w.log, 1)[0])
	if err := p.Apply(context.Background(), b); err == nil {
		t.Fatal("Apply with Redis down: no error")
	}
	for i := range b.Messages {
		if reason, ok := b.Rejected(i); ok {
			t.Errorf("event %d rejected while Redis is down: %s", i, reason)
		}
	}
}
