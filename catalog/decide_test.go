package catalog_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/schemas"
)

type decideCase struct {
	name  string
	given []schemas.Event
	cmd   catalog.BrandCommand
	gen   catalog.CodeGenerator
	want  []schemas.Event
	err   error  // nil, errValidation, catalog.ErrNotFound or catalog.ErrConflict
	field string // the ValidationError's field when err is errValidation
}

// runDecide runs a table: each case builds its state from given, decides
// cmd, and checks the events or the refusal. The events it wants must also
// be valid against their JSON Schemas and apply to the state.
func runDecide(t *testing.T, cases []decideCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := given(t, tc.given...)
			got, err := catalog.Decide(b, tc.cmd, tc.gen)
			checkErr(t, err, tc.err, tc.field)
			if tc.err != nil {
				if got != nil {
					t.Fatalf("refusal with events %#v", got)
				}
				return
			}
			checkEvents(t, got, tc.want)
			s := newStream(t)
			s.brand = b
			s.append(true, got...)
		})
	}
}

func TestDecideRegisterBrand(t *testing.T) {
	reg := catalog.RegisterBrand{BrandID: brandA, Name: " Acme ", APIKeyHash: keyHash, WebhookSecretSalt: "salt-" + brandA}
	with := func(f func(*catalog.RegisterBrand)) catalog.RegisterBrand { c := reg; f(&c); return c }
	runDecide(t, []decideCase{
		{name: "registers with the name trimmed", cmd: reg, want: []schemas.Event{registered(brandA)}},
		{name: "pointer command", cmd: &reg, want: []schemas.Event{registered(brandA)}},
		{name: "twice", given: []schemas.Event{registered(brandA)}, cmd: reg, err: catalog.ErrConflict},
		{name: "empty id", cmd: with(func(c *catalog.RegisterBrand) { c.BrandID = "" }), err: errValidation, field: "brand_id"},
		{name: "id with space", cmd: with(func(c *catalog.RegisterBrand) { c.BrandID = "a b" }), err: errValidation, field: "brand_id"},
		{name: "empty name", cmd: with(func(c *catalog.RegisterBrand) { c.Name = "  " }), err: errValidation, field: "name"},
		{name: "name too long", cmd: with(func(c *catalog.RegisterBrand) { c.Name = strings.Repeat("я", catalog.MaxNameLen+1) }), err: errValidation, field: "name"},
		{name: "name with control character", cmd: with(func(c *catalog.RegisterBrand) { c.Name = "Ac\x00me" }), err: errValidation, field: "name"},
		{name: "api key hash not sha256", cmd: with(func(c *catalog.RegisterBrand) { c.APIKeyHash = "secret" }), err: errValidation, field: "api_key_hash"},
		{name: "empty webhook salt", cmd: with(func(c *catalog.RegisterBrand) { c.WebhookSecretSalt = "" }), err: errValidation, field: "webhook_secret_salt"},
	})
}

func TestDecidePublishOffer(t *testing.T) {
	pub := catalog.PublishOffer{
		BrandID: brandA, OfferID: offer1, Name: "Winter sale", Payout: fixed150,
		Countries: []string{"RU"}, Platforms: []string{"instagram", "tiktok"}, HoldDays: 30,
	}
	with := func(f func(*catalog.PublishOffer)) catalog.PublishOffer {
		c := pub
		f(&c)
		return c
	}
	payout := func(typ, value, currency string) catalog.PublishOffer {
		return with(func(c *catalog.PublishOffer) { c.Payout = schemas.Payout{Type: typ, Value: value, Currency: currency} })
	}
	publishedWith := func(f func(*schemas.OfferPublished)) []schemas.Event {
		e := published(brandA, offer1)
		f(&e)
		return []schemas.Event{e}
	}
	reg := []schemas.Event{registered(brandA)}
	runDecide(t, []decideCase{
		{name: "fixed payout", given: reg, cmd: pub, want: []schemas.Event{published(brandA, offer1)}},
		{name: "percent payout", given: reg, cmd: payout("percent", "7.5", "RUB"),
			want: publishedWith(func(e *schemas.OfferPublished) {
				e.Payout = schemas.Payout{Type: "percent", Value: "7.5", Currency: "RUB"}
			})},
		{name: "percent of exactly 100", given: reg, cmd: payout("percent", "100.00", "USD"),
			want: publishedWith(func(e *schemas.OfferPublished) {
				e.Payout = schemas.Payout{Type: "percent", Value: "100.00", Currency: "USD"}
			})},
		{name: "yen with zero decimals written", given: reg, cmd: payout("fixed", "150.00", "JPY"),
			want: publishedWith(func(e *schemas.OfferPublished) {
				e.Payout = schemas.Payout{Type: "fixed", Value: "150.00", Currency: "JPY"}
			})},
		{name: "hold of 0 days and every platform", given: reg,
			cmd: with(func(c *catalog.PublishOffer) {
				c.HoldDays = 0
				c.Platforms = catalog.Platforms
				c.Countries = []string{"RU", "KZ"}
			}),
			want: publishedWith(func(e *schemas.OfferPublished) {
				e.HoldDays = 0
				e.Platforms = catalog.Platforms
				e.Countries = []string{"RU", "KZ"}
			})},
		{name: "hold of 365 days", given: reg, cmd: with(func(c *catalog.PublishOffer) { c.HoldDays = 365 }),
			want: publishedWith(func(e *schemas.OfferPublished) { e.HoldDays = 365 })},
		{name: "name trimmed", given: reg, cmd: with(func(c *catalog.PublishOffer) { c.Name = "  Winter sale\n" }),
			want: []schemas.Event{published(brandA, offer1)}},

		{name: "unknown brand", cmd: pub, err: catalog.ErrNotFound},
		{name: "offer already exists", given: withOffer(), cmd: pub, err: catalog.ErrConflict},

		{name: "empty offer id", given: reg, cmd: with(func(c *catalog.PublishOffer) { c.OfferID = "" }), err: errValidation, field: "offer_id"},
		{name: "empty name", given: reg, cmd: with(func(c *catalog.PublishOffer) { c.Name = "" }), err: errValidation, field: "name"},
		{name: "payout type unknown", given: reg, cmd: payout("cpc", "1", "RUB"), err: errValidation, field: "payout.type"},
		{name: "payout value empty", given: reg, cmd: payout("fixed", "", "RUB"), err: errValidation, field: "payout.value"},
		{name: "payout value not a decimal", given: reg, cmd: payout("fixed", "abc", "RUB"), err: errValidation, field: "payout.value"},
		{name: "payout value with exponent", given: reg, cmd: payout("fixed", "1e3", "RUB"), err: errValidation, field: "payout.value"},
		{name: "payout value negative", given: reg, cmd: payout("fixed", "-5", "RUB"), err: errValidation, field: "payout.value"},
		{name: "payout value with comma", given: reg, cmd: payout("fixed", "150,00", "RUB"), err: errValidation, field: "payout.value"},
		{name: "payout value zero", given: reg, cmd: payout("fixed", "0.00", "RUB"), err: errValidation, field: "payout.value"},
		{name: "payout value huge", given: reg, cmd: payout("fixed", strings.Repeat("9", 40), "RUB"), err: errValidation, field: "payout.value"},
		{name: "fixed payout below the kopeck", given: reg, cmd: payout("fixed", "150.001", "RUB"), err: errValidation, field: "payout.value"},
		{name: "fixed payout below the yen", given: reg, cmd: payout("fixed", "150.5", "JPY"), err: errValidation, field: "payout.value"},
		{name: "percent over 100", given: reg, cmd: payout("percent", "100.01", "RUB"), err: errValidation, field: "payout.value"},
		{name: "percent with too many decimals", given: reg, cmd: payout("percent", "7.12345", "RUB"), err: errValidation, field: "payout.value"},
		{name: "currency lower case", given: reg, cmd: payout("fixed", "150", "rub"), err: errValidation, field: "payout.currency"},
		{name: "currency missing", given: reg, cmd: payout("percent", "10", ""), err: errValidation, field: "payout.currency"},
		{name: "currency not ISO 4217", given: reg, cmd: payout("fixed", "150", "ABC"), err: errValidation, field: "payout.currency"},
		{name: "no countries", given: reg, cmd: with(func(c *catalog.PublishOffer) { c.Countries = nil }), err: errValidation, field: "countries"},
		{name: "country lower case", given: reg, cmd: with(func(c *catalog.PublishOffer) { c.Countries = []string{"ru"} }), err: errValidation, field: "countries[0]"},
		{name: "country alpha-3", given: reg, cmd: with(func(c *catalog.PublishOffer) { c.Countries = []string{"RU", "RUS"} }), err: errValidation, field: "countries[1]"},
		{name: "country not assigned", given: reg, cmd: with(func(c *catalog.PublishOffer) { c.Countries = []string{"XX"} }), err: errValidation, field: "countries[0]"},
		{name: "country UK is GB in ISO 3166", given: reg, cmd: with(func(c *catalog.PublishOffer) { c.Countries = []string{"UK"} }), err: errValidation, field: "countries[0]"},
		{name: "country twice", given: reg, cmd: with(func(c *catalog.PublishOffer) { c.Countries = []string{"RU", "KZ", "RU"} }), err: errValidation, field: "countries[2]"},
		{name: "no platforms", given: reg, cmd: with(func(c *catalog.PublishOffer) { c.Platforms = []string{} }), err: errValidation, field: "platforms"},
		{name: "unknown platform", given: reg, cmd: with(func(c *catalog.PublishOffer) { c.Platforms = []string{"vk", "facebook"} }), err: errValidation, field: "platforms[1]"},
		{name: "platform upper case", given: reg, cmd: with(func(c *catalog.PublishOffer) { c.Platforms = []string{"VK"} }), err: errValidation, field: "platforms[0]"},
		{name: "platform twice", given: reg, cmd: with(func(c *catalog.PublishOffer) { c.Platforms = []string{"vk", "vk"} }), err: errValidation, field: "platforms[1]"},
		{name: "hold days negative", given: reg, cmd: with(func(c *catalog.PublishOffer) { c.HoldDays = -1 }), err: errValidation, field: "hold_days"},
		{name: "hold days over 365", given: reg, cmd: with(func(c *catalog.PublishOffer) { c.HoldDays = 366 }), err: errValidation, field: "hold_days"},
		{name: "bad field reported before unknown brand", cmd: with(func(c *catalog.PublishOffer) { c.HoldDays = 366 }), err: errValidation, field: "hold_days"},
	})
}

func TestDecideChangeOffer(t *testing.T) {
	change := func(f func(*catalog.ChangeOffer)) catalog.ChangeOffer {
		c := catalog.ChangeOffer{BrandID: brandA, OfferID: offer1}
		f(&c)
		return c
	}
	changed := func(f func(*schemas.OfferChanged)) []schemas.Event {
		e := schemas.OfferChanged{BrandID: brandA, OfferID: offer1}
		f(&e)
		return []schemas.Event{e}
	}
	runDecide(t, []decideCase{
		{name: "new payout", given: withOffer(), cmd: change(func(c *catalog.ChangeOffer) { c.Payout = &pct10 }),
			want: changed(func(e *schemas.OfferChanged) { e.Payout = &pct10 })},
		{name: "pause", given: withOffer(), cmd: change(func(c *catalog.ChangeOffer) { c.Status = ptr(schemas.OfferPaused) }),
			want: []schemas.Event{paused(brandA, offer1)}},
		{name: "resume", given: withOffer(paused(brandA, offer1)), cmd: change(func(c *catalog.ChangeOffer) { c.Status = ptr(schemas.OfferActive) }),
			want: changed(func(e *schemas.OfferChanged) { e.Status = ptr(schemas.OfferActive) })},
		{name: "every field", given: withOffer(), cmd: change(func(c *catalog.ChangeOffer) {
			c.Name, c.Payout, c.HoldDays, c.Status = ptr("Spring sale"), &pct10, ptr(14), ptr(schemas.OfferPaused)
			c.Countries, c.Platforms = []string{"KZ"}, []string{"vk"}
		}), want: changed(func(e *schemas.OfferChanged) {
			e.Name, e.Payout, e.HoldDays, e.Status = ptr("Spring sale"), &pct10, ptr(14), ptr(schemas.OfferPaused)
			e.Countries, e.Platforms = &[]string{"KZ"}, &[]string{"vk"}
		})},
		{name: "only the fields that differ", given: withOffer(), cmd: change(func(c *catalog.ChangeOffer) {
			c.Name, c.Payout, c.HoldDays = ptr("Winter sale"), &fixed150, ptr(7)
			c.Countries = []string{"RU"}
		}), want: changed(func(e *schemas.OfferChanged) { e.HoldDays = ptr(7) })},
		{name: "the current values change nothing", given: withOffer(), cmd: change(func(c *catalog.ChangeOffer) {
			c.Payout, c.Status = &fixed150, ptr(schemas.OfferActive)
		}), want: nil},
		{name: "pause a paused offer changes nothing", given: withOffer(paused(brandA, offer1)),
			cmd: change(func(c *catalog.ChangeOffer) { c.Status = ptr(schemas.OfferPaused) }), want: nil},

		{name: "unknown offer", given: withOffer(), cmd: catalog.ChangeOffer{BrandID: brandA, OfferID: "nope", HoldDays: ptr(1)}, err: catalog.ErrNotFound},
		{name: "unknown brand", cmd: change(func(c *catalog.ChangeOffer) { c.HoldDays = ptr(1) }), err: catalog.ErrNotFound},
		{name: "nothing set", given: withOffer(), cmd: change(func(*catalog.ChangeOffer) {}), err: errValidation, field: ""},
		{name: "empty name", given: withOffer(), cmd: change(func(c *catalog.ChangeOffer) { c.Name = ptr("") }), err: errValidation, field: "name"},
		{name: "bad payout value", given: withOffer(), cmd: change(func(c *catalog.ChangeOffer) {
			c.Payout = &schemas.Payout{Type: "percent", Value: "150", Currency: "RUB"}
		}), err: errValidation, field: "payout.value"},
		{name: "empty countries", given: withOffer(), cmd: change(func(c *catalog.ChangeOffer) { c.Countries = []string{} }), err: errValidation, field: "countries"},
		{name: "unknown platform", given: withOffer(), cmd: change(func(c *catalog.ChangeOffer) { c.Platforms = []string{"myspace"} }), err: errValidation, field: "platforms[0]"},
		{name: "hold days over 365", given: withOffer(), cmd: change(func(c *catalog.ChangeOffer) { c.HoldDays = ptr(400) }), err: errValidation, field: "hold_days"},
		{name: "unknown status", given: withOffer(), cmd: change(func(c *catalog.ChangeOffer) { c.Status = ptr("archived") }), err: errValidation, field: "status"},
	})
}

func TestDecideRequestCode(t *testing.T) {
	req := func(id, creator, platform string) catalog.RequestCode {
		return catalog.RequestCode{BrandID: brandA, OfferID: offer1, RequestID: id, CreatorID: creator, Platform: platform}
	}
	runDecide(t, []decideCase{
		{name: "first request", given: withOffer(), cmd: req("r1", anna, "instagram"),
			want: []schemas.Event{requested(brandA, "r1", anna, "instagram")}},
		{name: "same offer on another platform while one is in moderation",
			given: withOffer(requested(brandA, "r1", anna, "instagram")), cmd: req("r2", anna, "tiktok"),
			want: []schemas.Event{requested(brandA, "r2", anna, "tiktok")}},
		{name: "another creator, same offer and platform",
			given: withAnnaCode(), cmd: req("r2", boris, "instagram"),
			want: []schemas.Event{requested(brandA, "r2", boris, "instagram")}},
		{name: "again after a rejection",
			given: withOffer(requested(brandA, "r1", anna, "instagram"), rejected(brandA, "r1", anna, "no audience")),
			cmd:   req("r2", anna, "instagram"), want: []schemas.Event{requested(brandA, "r2", anna, "instagram")}},
		{name: "again after a revocation",
			given: withAnnaCode(revoked(brandA, "r1", "ANNA10", "ANNA10")),
			cmd:   req("r2", anna, "instagram"), want: []schemas.Event{requested(brandA, "r2", anna, "instagram")}},

		{name: "again while one is in moderation", given: withOffer(requested(brandA, "r1", anna, "instagram")),
			cmd: req("r2", anna, "instagram"), err: catalog.ErrConflict},
		{name: "again while the code is active", given: withAnnaCode(), cmd: req("r2", anna, "instagram"), err: catalog.ErrConflict},
		{name: "request id reused", given: withOffer(requested(brandA, "r1", anna, "instagram")),
			cmd: req("r1", boris, "tiktok"), err: catalog.ErrConflict},
		{name: "paused offer", given: withOffer(paused(brandA, offer1)), cmd: req("r1", anna, "instagram"), err: catalog.ErrConflict},
		{name: "unknown offer", given: withOffer(), cmd: catalog.RequestCode{BrandID: brandA, OfferID: offer2, RequestID: "r1", CreatorID: anna, Platform: "vk"},
			err: catalog.ErrNotFound},
		{name: "unknown brand", cmd: req("r1", anna, "instagram"), err: catalog.ErrNotFound},
		{name: "platform the offer does not accept", given: withOffer(), cmd: req("r1", anna, "youtube"), err: errValidation, field: "platform"},
		{name: "unknown platform", given: withOffer(), cmd: req("r1", anna, "myspace"), err: errValidation, field: "platform"},
		{name: "empty creator", given: withOffer(), cmd: req("r1", "", "instagram"), err: errValidation, field: "creator_id"},
		{name: "empty request id", given: withOffer(), cmd: req("", anna, "instagram"), err: errValidation, field: "request_id"},
		{name: "empty offer id", given: withOffer(), cmd: catalog.RequestCode{BrandID: brandA, RequestID: "r1", CreatorID: anna, Platform: "vk"},
			err: errValidation, field: "offer_id"},
	})
}

func TestDecideConfirmCode(t *testing.T) {
	confirm := func(id, code string) catalog.ConfirmCode {
		return catalog.ConfirmCode{BrandID: brandA, RequestID: id, Code: code}
	}
	borisAsks := requested(brandA, "r2", boris, "tiktok")
	borisGets := func(code, normalized string) []schemas.Event {
		return []schemas.Event{confirmed(brandA, "r2", boris, "tiktok", code, normalized)}
	}
	annaAsks := requested(brandA, "r1", anna, "instagram")
	runDecide(t, []decideCase{
		{name: "moderation to confirmed with the brand's text", given: withOffer(annaAsks), cmd: confirm("r1", "ANNA10"),
			want: []schemas.Event{confirmed(brandA, "r1", anna, "instagram", "ANNA10", "ANNA10")}},
		{name: "text kept as typed, trimmed; normalised beside it", given: withOffer(annaAsks), cmd: confirm("r1", "  anna10 "),
			want: []schemas.Event{confirmed(brandA, "r1", anna, "instagram", "anna10", "ANNA10")}},
		{name: "generated when no text is given", given: withOffer(annaAsks), cmd: confirm("r1", ""), gen: seq("ANNA7K3MPQX"),
			want: []schemas.Event{confirmed(brandA, "r1", anna, "instagram", "ANNA7K3MPQX", "ANNA7K3MPQX")}},
		{name: "generated text avoids an active code", given: withAnnaCode(borisAsks), cmd: confirm("r2", ""), gen: seq("ANNA10", "BORI22"),
			want: borisGets("BORI22", "BORI22")},
		{name: "generated text avoids a revoked code's text too",
			given: withAnnaCode(revoked(brandA, "r1", "ANNA10", "ANNA10"), borisAsks), cmd: confirm("r2", ""), gen: seq("anna10", "BORI22"),
			want: borisGets("BORI22", "BORI22")},
		{name: "revoked code's text reusable when the brand types it",
			given: withAnnaCode(revoked(brandA, "r1", "ANNA10", "ANNA10"), borisAsks), cmd: confirm("r2", "Anna10"),
			want: borisGets("Anna10", "ANNA10")},
		{name: "text of a rejected request is free", given: withOffer(annaAsks, rejected(brandA, "r1", anna, "no"), borisAsks),
			cmd: confirm("r2", "ANNA10"), want: borisGets("ANNA10", "ANNA10")},

		{name: "confirm twice", given: withAnnaCode(), cmd: confirm("r1", "ANNA11"), err: catalog.ErrConflict},
		{name: "confirm after reject", given: withOffer(annaAsks, rejected(brandA, "r1", anna, "no")), cmd: confirm("r1", "ANNA10"), err: catalog.ErrConflict},
		{name: "confirm after revoke", given: withAnnaCode(revoked(brandA, "r1", "ANNA10", "ANNA10")), cmd: confirm("r1", "ANNA11"), err: catalog.ErrConflict},
		{name: "taken text", given: withAnnaCode(borisAsks), cmd: confirm("r2", "ANNA10"), err: catalog.ErrConflict},
		{name: "taken text in another case", given: withAnnaCode(borisAsks), cmd: confirm("r2", "anna10"), err: catalog.ErrConflict},
		{name: "taken text with surrounding space", given: withAnnaCode(borisAsks), cmd: confirm("r2", "\tANNA10  "), err: catalog.ErrConflict},
		{name: "taken text with zero-width and no-break spaces", given: withAnnaCode(borisAsks), cmd: confirm("r2", "\u200bANNA10\u00a0\ufeff"), err: catalog.ErrConflict},
		{name: "text kept as typed, trimmed of invisible characters", given: withOffer(annaAsks), cmd: confirm("r1", "\ufeff\u2060anna10\u200b\r\n"),
			want: []schemas.Event{confirmed(brandA, "r1", anna, "instagram", "anna10", "ANNA10")}},
		{name: "control character inside", given: withOffer(annaAsks), cmd: confirm("r1", "AN\x01NA10"), err: errValidation, field: "code"},
		{name: "taken text with Cyrillic look-alikes", given: withAnnaCode(borisAsks), cmd: confirm("r2", "АNNА10"), err: catalog.ErrConflict},
		{name: "taken text in full-width forms", given: withAnnaCode(borisAsks), cmd: confirm("r2", "ＡＮＮＡ１０"), err: catalog.ErrConflict},
		{name: "taken by a code issued under look-alikes", given: withOffer(annaAsks, confirmed(brandA, "r1", anna, "instagram", "АNNА10", "ANNA10"), borisAsks),
			cmd: confirm("r2", "anna10"), err: catalog.ErrConflict},
		{name: "unknown request", given: withOffer(), cmd: confirm("r9", "ANNA10"), err: catalog.ErrNotFound},
		{name: "unknown brand", cmd: confirm("r1", "ANNA10"), err: catalog.ErrNotFound},
		{name: "text with a space inside", given: withOffer(annaAsks), cmd: confirm("r1", "ANNA 10"), err: errValidation, field: "code"},
		{name: "text of white space only", given: withOffer(annaAsks), cmd: confirm("r1", "   "), err: errValidation, field: "code"},
		{name: "text with punctuation", given: withOffer(annaAsks), cmd: confirm("r1", "ANNA!10"), err: errValidation, field: "code"},
		{name: "text too long", given: withOffer(annaAsks), cmd: confirm("r1", strings.Repeat("A", 65)), err: errValidation, field: "code"},
		{name: "empty request id", given: withOffer(annaAsks), cmd: confirm("", "ANNA10"), err: errValidation, field: "request_id"},
		{name: "bad text reported before the conflict", given: withAnnaCode(), cmd: confirm("r1", "A B"), err: errValidation, field: "code"},
		{name: "generator never finds a free text", given: withAnnaCode(borisAsks), cmd: confirm("r2", ""), gen: seq("ANNA10"), err: catalog.ErrNoFreeCode},
	})
}

func TestDecideConfirmCodeGeneratorFaults(t *testing.T) {
	b := given(t, withOffer(requested(brandA, "r1", anna, "instagram"))...)
	for _, tc := range []struct {
		name string
		gen  catalog.CodeGenerator
	}{
		{"no generator", nil},
		{"generator proposes an invalid text", seq("NOT VALID")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := catalog.Decide(b, catalog.ConfirmCode{BrandID: brandA, RequestID: "r1"}, tc.gen)
			if err == nil || evs != nil {
				t.Fatalf("got %v, %v; want an error", evs, err)
			}
			var ve *catalog.ValidationError
			if errors.As(err, &ve) {
				t.Fatalf("error %v is a ValidationError; want a plain failure", err)
			}
			for _, kind := range []error{catalog.ErrConflict, catalog.ErrNotFound, catalog.ErrNoFreeCode} {
				if errors.Is(err, kind) {
					t.Fatalf("error %v is %v; want a plain failure", err, kind)
				}
			}
		})
	}
}

func TestDecideRejectCode(t *testing.T) {
	reject := func(id, reason string) catalog.RejectCode {
		return catalog.RejectCode{BrandID: brandA, RequestID: id, Reason: reason}
	}
	annaAsks := requested(brandA, "r1", anna, "instagram")
	runDecide(t, []decideCase{
		{name: "moderation to rejected", given: withOffer(annaAsks), cmd: reject("r1", "Audience too small"),
			want: []schemas.Event{rejected(brandA, "r1", anna, "Audience too small")}},
		{name: "reason trimmed", given: withOffer(annaAsks), cmd: reject("r1", "\n Audience too small "),
			want: []schemas.Event{rejected(brandA, "r1", anna, "Audience too small")}},
		{name: "reason of 1000 characters", given: withOffer(annaAsks), cmd: reject("r1", strings.Repeat("ю", 1000)),
			want: []schemas.Event{rejected(brandA, "r1", anna, strings.Repeat("ю", 1000))}},

		{name: "reject after confirm", given: withAnnaCode(), cmd: reject("r1", "changed my mind"), err: catalog.ErrConflict},
		{name: "reject twice", given: withOffer(annaAsks, rejected(brandA, "r1", anna, "no")), cmd: reject("r1", "no"), err: catalog.ErrConflict},
		{name: "unknown request", given: withOffer(annaAsks), cmd: reject("r9", "no"), err: catalog.ErrNotFound},
		{name: "unknown brand", cmd: reject("r1", "no"), err: catalog.ErrNotFound},
		{name: "empty reason", given: withOffer(annaAsks), cmd: reject("r1", ""), err: errValidation, field: "reason"},
		{name: "reason of white space only", given: withOffer(annaAsks), cmd: reject("r1", " \t\n"), err: errValidation, field: "reason"},
		{name: "reason over 1000 characters", given: withOffer(annaAsks), cmd: reject("r1", strings.Repeat("ю", 1001)), err: errValidation, field: "reason"},
		{name: "empty request id", given: withOffer(annaAsks), cmd: reject("", "no"), err: errValidation, field: "request_id"},
	})
}

func TestDecideRevokeCode(t *testing.T) {
	revoke := func(code string) catalog.RevokeCode { return catalog.RevokeCode{BrandID: brandA, Code: code} }
	reissued := withAnnaCode(
		revoked(brandA, "r1", "ANNA10", "ANNA10"),
		requested(brandA, "r2", boris, "tiktok"),
		confirmed(brandA, "r2", boris, "tiktok", "anna10", "ANNA10"),
	)
	runDecide(t, []decideCase{
		{name: "active code", given: withAnnaCode(), cmd: revoke("ANNA10"), want: []schemas.Event{revoked(brandA, "r1", "ANNA10", "ANNA10")}},
		{name: "matched like codes are", given: withAnnaCode(), cmd: revoke(" аnnа10 "), want: []schemas.Event{revoked(brandA, "r1", "ANNA10", "ANNA10")}},
		{name: "a re-issued text revokes its current code", given: reissued, cmd: revoke("ANNA10"),
			want: []schemas.Event{revoked(brandA, "r2", "anna10", "ANNA10")}},

		{name: "already revoked", given: withAnnaCode(revoked(brandA, "r1", "ANNA10", "ANNA10")), cmd: revoke("ANNA10"), err: catalog.ErrConflict},
		{name: "unknown code", given: withAnnaCode(), cmd: revoke("BORIS10"), err: catalog.ErrNotFound},
		{name: "unknown brand", cmd: revoke("ANNA10"), err: catalog.ErrNotFound},
		{name: "empty code", given: withAnnaCode(), cmd: revoke("  "), err: errValidation, field: "code"},
	})
}

func TestDecideWrongBrandStateIsAFault(t *testing.T) {
	b := given(t, withOffer()...)
	_, err := catalog.Decide(b, catalog.RequestCode{BrandID: brandB, OfferID: offer1, RequestID: "r1", CreatorID: anna, Platform: "vk"}, nil)
	if err == nil || errors.Is(err, catalog.ErrNotFound) || errors.Is(err, catalog.ErrConflict) {
		t.Fatalf("error %v; want a plain failure: the caller loaded the wrong aggregate", err)
	}
}

func TestDecideIsPure(t *testing.T) {
	s := givenStream(t, withAnnaCode(requested(brandA, "r2", boris, "tiktok"))...)
	b, before := s.brand, rebuild(t, s.log)
	for range 2 {
		evs, err := catalog.Decide(b, catalog.ConfirmCode{BrandID: brandA, RequestID: "r2", Code: "BORIS5"}, nil)
		if err != nil || len(evs) != 1 {
			t.Fatalf("got %v, %v", evs, err)
		}
	}
	if !reflect.DeepEqual(b, before) {
		t.Fatal("Decide changed the state")
	}
}
