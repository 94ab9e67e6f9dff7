package chload

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Currencies of the generated orders and their share of the brands.
var currencies = []struct {
	code      string
	weight    float64
	countries []string // the first is the home market, most orders come from it
	minMinor  int64    // order amounts, in minor units
	maxMinor  int64
}{
	{"RUB", 0.6, []string{"RU", "KZ", "BY", "AM"}, 50_000, 3_000_000},
	{"USD", 0.25, []string{"US", "CA", "GB", "AU"}, 1_000, 40_000},
	{"EUR", 0.15, []string{"DE", "FR", "ES", "IT", "NL"}, 1_000, 35_000},
}

var platforms = []string{"instagram", "tiktok", "youtube", "telegram", "vk"}

var (
	brandWords = []string{"Lumen", "Velo", "Aurora", "Borealis", "Cedar", "Dune", "Ember", "Fjord", "Grove", "Harbor",
		"Iris", "Juniper", "Kestrel", "Lagoon", "Meadow", "Nimbus", "Onyx", "Prairie", "Quartz", "Ridge"}
	brandKinds = []string{"Cosmetics", "Sports", "Books", "Coffee", "Outdoor", "Kids", "Pets", "Home", "Audio", "Fashion"}
	offerNames = []string{"Winter sale", "Summer sale", "Free shipping", "First order", "Black Friday", "New collection",
		"Loyalty bonus", "Weekend deal", "Starter kit", "Gift set", "Back to school", "Spring drop"}
	creatorNames = []string{"Anna", "Boris", "Vera", "Gleb", "Daria", "Egor", "Zoya", "Ivan", "Kira", "Lev",
		"Maria", "Nikita", "Olga", "Pavel", "Rita", "Sergey", "Tanya", "Ulyana", "Fedor", "Yana"}
	noCodes = [][]string{{}, {"WELCOME"}, {"SALE2024", "FREESHIP"}}
)

// Brand is a generated brand.
type Brand struct {
	ID, Name string
	Currency string // the currency of its shop, and of its fixed payouts
	Offers   []Offer
}

// Offer is a generated offer of a brand.
type Offer struct {
	BrandID, ID string
	// Name is the name orders were decided with; CurrentName the one in
	// offer_names (a renamed offer differs).
	Name, CurrentName string
	PayoutType        string // fixed or percent
	PayoutValue       string
	PayoutCurrency    string
	// payout is the fixed amount in thousandths, or the percentage.
	payout   int64
	HoldDays uint16
}

// Creator is a generated creator with its confirmed codes.
type Creator struct {
	ID, Name string
	Codes    []Code
	// weight is the creator's share of the orders (Zipf).
	weight float64
}

// Code is a creator's confirmed promo code for an offer.
type Code struct {
	BrandID, OfferID, RequestID, Code, Platform string
	offer                                       *Offer
	confirmedAt                                 int64
}

// Catalog is everything the orders refer to, derived from the seed alone.
type Catalog struct {
	Brands     []Brand
	Creators   []Creator
	cum        []float64 // cumulative creator weights
	brandsByID map[string]*Brand
}

// hexID returns prefix and 24 hex digits, like credentials.NewID, from rng.
func hexID(rng *rand.Rand, prefix string) string {
	return fmt.Sprintf("%s%016x%08x", prefix, rng.Uint64(), rng.Uint32())
}

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// newCatalog derives the brands, offers, creators and codes of cfg.
func newCatalog(cfg *Config) *Catalog {
	rng := rand.New(rand.NewPCG(cfg.Seed, math.MaxUint64))
	c := &Catalog{}
	for i := range cfg.Brands {
		cur := currencies[len(currencies)-1].code
		x := rng.Float64()
		for _, k := range currencies {
			if x < k.weight {
				cur = k.code
				break
			}
			x -= k.weight
		}
		b := Brand{ID: hexID(rng, "brd_"), Currency: cur,
			Name: fmt.Sprintf("%s %s %d", brandWords[i%len(brandWords)], brandKinds[(i/len(brandWords)+i)%len(brandKinds)], i)}
		for j := range 2 + rng.IntN(5) {
			o := Offer{BrandID: b.ID, ID: hexID(rng, "ofr_"), Name: fmt.Sprintf("%s %d", offerNames[(i+j)%len(offerNames)], 2024+j%3),
				HoldDays: uint16(pick(rng, []int{0, 14, 14, 30}))}
			o.CurrentName = o.Name
			if rng.IntN(10) == 0 {
				o.CurrentName = o.Name + " (renamed)"
			}
			if rng.IntN(2) == 0 {
				o.PayoutType, o.PayoutCurrency = "fixed", cur
				minor := pick(rng, []int64{100, 150, 250, 500}) * 100
				if cur != "RUB" {
					minor = pick(rng, []int64{3, 5, 10}) * 100
				}
				o.payout = minor * 10
				o.PayoutValue = strconv.FormatInt(minor/100, 10) + ".00"
			} else {
				o.PayoutType = "percent"
				o.payout = int64(3 + rng.IntN(13))
				o.PayoutValue = strconv.FormatInt(o.payout, 10)
			}
			b.Offers = append(b.Offers, o)
		}
		c.Brands = append(c.Brands, b)
	}
	var total float64
	for i := range cfg.Creators {
		cr := Creator{ID: hexID(rng, "crt_"), Name: fmt.Sprintf("%s %d", creatorNames[i%len(creatorNames)], i),
			weight: 1 / math.Pow(float64(i+1), cfg.Skew)}
		// Busy creators promote more offers.
		n := 1 + rng.IntN(3)
		if i < cfg.Creators/20 {
			n += 4 + rng.IntN(6)
		}
		for k := range n {
			b := &c.Brands[rng.IntN(len(c.Brands))]
			o := &b.Offers[rng.IntN(len(b.Offers))]
			cr.Codes = append(cr.Codes, Code{BrandID: b.ID, OfferID: o.ID, RequestID: hexID(rng, "req_"),
				Code:     fmt.Sprintf("%s%d%c", strings.ToUpper(creatorNames[i%len(creatorNames)]), i, 'A'+rune(k)),
				Platform: pick(rng, platforms), offer: o})
		}
		total += cr.weight
		c.Creators = append(c.Creators, cr)
	}
	// Order creators by weight for the sampler; the first is the busiest.
	var acc float64
	for i := range c.Creators {
		acc += c.Creators[i].weight / total
		c.cum = append(c.cum, acc)
	}
	c.cum[len(c.cum)-1] = 1
	c.brandsByID = make(map[string]*Brand, len(c.Brands))
	for i := range c.Brands {
		c.brandsByID[c.Brands[i].ID] = &c.Brands[i]
	}
	start := cfg.End.Add(-cfg.Span).Add(-24 * time.Hour).Unix()
	for i := range c.Creators {
		for k := range c.Creators[i].Codes {
			c.Creators[i].Codes[k].confirmedAt = start
		}
	}
	return c
}

func (c *Catalog) creator(rng *rand.Rand) *Creator {
	i := sort.SearchFloat64s(c.cum, rng.Float64())
	return &c.Creators[min(i, len(c.Creators)-1)]
}

// Order is one row of the orders table (one version of an order). Money is
// in thousandths of the currency (the columns' Decimal(18, 3) scale);
// times are Unix seconds.
type Order struct {
	CreatorID, BrandID, OrderID, OfferID, OfferName, RequestID string
	PromoCode, Platform, Status                                string
	Amount, NetAmount, Earnings                                int64
	Currency, Country, EarningsCurrency                        string
	PayoutType, PayoutValue, PayoutCurrency                    string
	HoldDays                                                   uint16
	Cause, Decision                                            string
	PlacedAt, LastEventAt, UpdatedAt                           int64
	Version                                                    uint64
}

// Unattributed is one row of unattributed_orders.
type Unattributed struct {
	BrandID, OrderID  string
	PromoCodes        []string
	Reason, Decision  string
	Amount            int64
	Currency, Country string
	PlacedAt, Updated int64
	Version           uint64
}

// Chunk is what one step of the generator produces: the orders of a range
// of order numbers. Earlier holds superseded versions and redelivered
// copies (inserted first, as a block of their own, so that ReplacingMergeTree
// has duplicates across parts to fold); Final holds the latest version of
// each order of the chunk, exactly once.
type Chunk struct {
	Index        int
	Earlier      []Order
	Final        []Order
	Unattributed []Unattributed
}

// chunk generates the orders numbered [from, to) and the unattributed
// orders that go with them. It depends only on cfg, the catalog and the
// chunk's index, so chunks can be made in any order, in parallel.
func (c *Catalog) chunk(cfg *Config, index, from, to int) Chunk {
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(index)))
	ch := Chunk{Index: index, Final: make([]Order, 0, to-from)}
	end := cfg.End.Unix()
	span := cfg.Span.Seconds()
	placed := func() int64 {
		// Linear growth: more orders recently.
		return end - int64(span*(1-math.Sqrt(rng.Float64())))
	}
	for n := from; n < to; n++ {
		cr := c.creator(rng)
		code := &cr.Codes[rng.IntN(len(cr.Codes))]
		o := code.offer
		brand := c.brand(code.BrandID)
		cur := brand.Currency
		if rng.IntN(10) == 0 {
			cur = pick(rng, currencies).code
		}
		ci := currencyIndex(cur)
		country := currencies[ci].countries[0]
		if rng.IntN(5) == 0 {
			country = pick(rng, currencies[ci].countries)
		}
		minor := currencies[ci].minMinor + int64(float64(currencies[ci].maxMinor-currencies[ci].minMinor)*math.Pow(rng.Float64(), 3))
		at := placed()
		row := Order{
			CreatorID: cr.ID, BrandID: code.BrandID, OrderID: fmt.Sprintf("ORD-%010d", n),
			OfferID: o.ID, OfferName: o.Name, RequestID: code.RequestID, PromoCode: code.Code, Platform: code.Platform,
			Amount: minor * 10, NetAmount: minor * 10, Currency: cur, Country: country,
			PayoutType: o.PayoutType, PayoutValue: o.PayoutValue, PayoutCurrency: o.PayoutCurrency, HoldDays: o.HoldDays,
			PlacedAt: at, LastEventAt: at, UpdatedAt: at + 1, Version: 1, Status: "pending", Cause: "order.attributed",
		}
		if row.PayoutCurrency == "" {
			row.PayoutCurrency = cur
		}
		row.Decision = `{"candidates":[{"code":"` + code.Code + `","normalized_code":"` + code.Code + `","outcome":"won","creator_id":"` +
			cr.ID + `","offer_id":"` + o.ID + `","request_id":"` + code.RequestID + `","active_from":"` +
			time.Unix(code.confirmedAt, 0).UTC().Format(time.RFC3339) + `"}]}`
		setEarnings(&row, o)
		first := row
		// What happened to the order after it was placed.
		decided := end-at > int64(o.HoldDays)*86400+3*86400
		x := rng.IntN(100)
		switch {
		case decided && x < 78, !decided && x < 5 && o.HoldDays == 0:
			row.Status, row.Version, row.Cause = "approved", 2, "order.confirmed"
			if rng.IntN(10) == 0 { // a partial refund after the confirmation
				row.NetAmount = (row.Amount * int64(50+rng.IntN(45)) / 100) / 10 * 10
				row.Version, row.Cause = 3, "order.refunded"
			}
		case decided && x < 93, !decided && x < 12:
			row.Status, row.Version, row.Cause = "rejected", 2, "order.cancelled"
			row.NetAmount = 0
		}
		if row.Version > 1 {
			row.LastEventAt = at + int64(rng.IntN(int(o.HoldDays)*86400+86400))
			row.UpdatedAt = row.LastEventAt + 1
			setEarnings(&row, o)
			// Some orders still have their first row in the table (the
			// projector wrote it before the change).
			if rng.IntN(3) == 0 {
				ch.Earlier = append(ch.Earlier, first)
			}
		}
		if rng.IntN(50) == 0 { // a redelivered row: the same version again
			ch.Earlier = append(ch.Earlier, row)
		}
		ch.Final = append(ch.Final, row)
		// One unattributed order for every 19 attributed ones: 5% of all.
		if cfg.unattributedFor(n) {
			u := Unattributed{BrandID: code.BrandID, OrderID: fmt.Sprintf("UNA-%010d", n), Amount: row.Amount, Currency: cur,
				Country: country, PlacedAt: placed(), Version: 1}
			u.Updated = u.PlacedAt + 1
			switch r := rng.IntN(20); {
			case r < 10:
				u.Reason, u.PromoCodes = "no_code", []string{}
			case r < 17:
				u.Reason, u.PromoCodes = "unknown_code", pick(rng, noCodes[1:])
			case r < 19:
				u.Reason, u.PromoCodes = "code_not_active", []string{code.Code}
			default:
				u.Reason, u.PromoCodes = "code_revoked", []string{code.Code}
			}
			u.Decision = `{"candidates":[]}`
			ch.Unattributed = append(ch.Unattributed, u)
		}
	}
	return ch
}

// setEarnings computes the row's earnings from its status, net amount and
// the offer's terms: a fixed payout once unless rejected; a percentage of
// the net amount, rounded half away from zero to the currency's cents.
func setEarnings(row *Order, o *Offer) {
	switch {
	case row.Status == "rejected":
		row.Earnings = 0
		if o.PayoutType == "fixed" {
			row.EarningsCurrency = o.PayoutCurrency
		} else {
			row.EarningsCurrency = row.Currency
		}
	case o.PayoutType == "fixed":
		row.Earnings, row.EarningsCurrency = o.payout, o.PayoutCurrency
	default:
		// net (thousandths) * pct / 100 is the exact amount in thousandths;
		// divided by 10 more it is in cents: cents = round(net * pct / 1000).
		cents := (row.NetAmount*o.payout + 500) / 1000
		row.Earnings, row.EarningsCurrency = cents*10, row.Currency
	}
}

func currencyIndex(cur string) int {
	for i, c := range currencies {
		if c.code == cur {
			return i
		}
	}
	panic("unknown currency " + cur)
}

func (c *Catalog) brand(id string) *Brand { return c.brandsByID[id] }
