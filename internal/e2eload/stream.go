// Package e2eload drives a running engine end to end, as shops and creators
// do: it signs and sends generated order streams to the webhook, follows
// when they become visible in the creators' reports, and checks that the
// reports' final totals equal its own sums. `attrib loadgen webhook` runs it.
//
// The stream (Stream) is pure: seeded, no clock, no I/O; it also keeps the
// expected outcome of every order (Expected) with arithmetic of its own, so
// that the check does not trust the engine's code. The driver (Run) paces
// the stream, sends it over HTTP and measures.
package e2eload

import (
	"math/rand"
	"strconv"
	"time"
)

// Payout is an offer's terms, as the generator computes earnings from them.
type Payout struct {
	// Percent: Value is a whole percent of the order's net amount;
	// otherwise Value is a fixed amount in minor units, paid once per order.
	Percent bool
	Value   int64
	// Currency of the offer, of its orders and of their earnings; two
	// minor digits (RUB, USD, EUR).
	Currency string
}

// Code is a promo code a brand issued to a creator (an index into the
// creators of the run).
type Code struct {
	Text    string
	Creator int
}

// Brand is a registered brand whose shop the generator plays.
type Brand struct {
	ID, Secret string
	Payout     Payout
	Codes      []Code
}

// Mix is the shape of the stream: shares of orders (each in [0, 1]).
type Mix struct {
	// Outcomes: an order stays pending, or is later confirmed, cancelled,
	// refunded in part (still pending) or refunded fully; the rest of 1
	// after Approved, Cancelled, PartRefund and FullRefund stays pending.
	Approved, Cancelled, PartRefund, FullRefund float64
	// NoCode and UnknownCode orders are unattributed.
	NoCode, UnknownCode float64
	// MultiCode orders carry two codes: an unknown one first, or two
	// creators' codes (the first wins).
	MultiCode float64
	// Typed codes are sent as shoppers type them: lower case, surrounded
	// by white space.
	Typed float64
	// Duplicate: the order's first event is sent again later.
	Duplicate float64
	// OutOfOrder: the later event is sent first, the placement after it.
	OutOfOrder float64
}

// DefaultMix is the stream `attrib loadgen webhook` sends.
var DefaultMix = Mix{
	Approved: 0.40, Cancelled: 0.15, PartRefund: 0.12, FullRefund: 0.08,
	NoCode: 0.02, UnknownCode: 0.03, MultiCode: 0.10, Typed: 0.10,
	Duplicate: 0.02, OutOfOrder: 0.02,
}

// Event is one webhook event, encoded.
type Event struct {
	JSON []byte
	// Placed: the order's order.placed (a duplicate counts too).
	Placed bool
	// Dup: a second sending of an event.
	Dup bool
	// Brand indexes the brand whose shop sends it.
	Brand int
}

// Order is one generated order: its events to send now and those to send
// after the follow-up delay, and what the reports must show for it.
type Order struct {
	ID    string
	Brand int
	Now   []Event
	Later []Event
	// Outcome is the order's final state once all its events are in.
	Outcome Outcome
}

// Status names as the reports show them.
const (
	StatusPending  = "pending"
	StatusApproved = "approved"
	StatusRejected = "rejected"
)

// Outcome is what a creator's report shows for an order once all its
// events are in. Creator is -1 for an unattributed order.
type Outcome struct {
	Creator  int
	Status   string
	Earnings int64 // minor units of Currency
	Currency string
}

// Stream generates orders. Not safe for concurrent use.
type Stream struct {
	run    string
	brands []Brand
	mix    Mix
	rng    *rand.Rand
	seq    int64
	buf    []byte
}

// NewStream returns a stream of orders of the given brands; run prefixes
// every order and event id, so that runs against one engine never collide.
func NewStream(run string, brands []Brand, mix Mix, seed int64) *Stream {
	return &Stream{run: run, brands: brands, mix: mix, rng: rand.New(rand.NewSource(seed))}
}

// occurredLayout writes milliseconds, so that an order placed just after a
// code's confirmation is not rounded to before it.
const occurredLayout = "2006-01-02T15:04:05.000Z07:00"

// Next generates the next order, placed at now.
func (s *Stream) Next(now time.Time) Order {
	s.seq++
	r := s.rng
	bi := r.Intn(len(s.brands))
	b := &s.brands[bi]
	id := s.run + "-" + strconv.FormatInt(s.seq, 10)
	amount := 50000 + r.Int63n(1450000) // 500.00 to 14999.99
	o := Order{ID: id, Brand: bi, Outcome: Outcome{Creator: -1, Currency: b.Payout.Currency}}

	// Codes, and the creator the first active one belongs to.
	var codes []string
	pick := func() Code { return b.Codes[r.Intn(len(b.Codes))] }
	text := func(c Code) string {
		if r.Float64() < s.mix.Typed {
			return " " + lower(c.Text) + "\t"
		}
		return c.Text
	}
	unknown := "NOPE" + strconv.Itoa(r.Intn(1000))
	switch x := r.Float64(); {
	case x < s.mix.NoCode || len(b.Codes) == 0:
		codes = []string{}
	case x < s.mix.NoCode+s.mix.UnknownCode:
		codes = []string{unknown}
	case x < s.mix.NoCode+s.mix.UnknownCode+s.mix.MultiCode:
		c := pick()
		o.Outcome.Creator = c.Creator
		if r.Intn(2) == 0 {
			codes = []string{unknown, text(c)}
		} else {
			codes = []string{text(c), text(pick())}
		}
	default:
		c := pick()
		o.Outcome.Creator = c.Creator
		codes = []string{text(c)}
	}

	placed := s.event(id, "p", "order.placed", now, func(buf []byte) []byte {
		buf = append(buf, `,"promo_codes":[`...)
		for i, c := range codes {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendQuote(buf, c)
		}
		buf = append(buf, `],"amount":"`...)
		buf = appendMinor(buf, amount)
		buf = append(buf, `","currency":"`...)
		buf = append(buf, b.Payout.Currency...)
		return append(buf, `","country":"RU"`...)
	})
	placed.Placed = true

	// The later event, if any, happens a millisecond after the placement
	// (its occurred_at; when it is sent is the driver's business).
	net := amount
	later := now.Add(time.Millisecond)
	var follow *Event
	m := s.mix
	o.Outcome.Status = StatusPending
	switch x := r.Float64(); {
	case x < m.Approved:
		e := s.event(id, "c", "order.confirmed", later, nil)
		follow, o.Outcome.Status = &e, StatusApproved
	case x < m.Approved+m.Cancelled:
		e := s.event(id, "x", "order.cancelled", later, nil)
		follow, o.Outcome.Status, net = &e, StatusRejected, 0
	case x < m.Approved+m.Cancelled+m.PartRefund:
		refund := amount * int64(10+r.Intn(40)) / 100
		e := s.event(id, "r", "order.refunded", later, func(buf []byte) []byte {
			buf = append(buf, `,"refund_amount":"`...)
			return append(appendMinor(buf, refund), '"')
		})
		follow, net = &e, amount-refund
	case x < m.Approved+m.Cancelled+m.PartRefund+m.FullRefund:
		e := s.event(id, "r", "order.refunded", later, func(buf []byte) []byte {
			buf = append(buf, `,"refund_amount":"`...)
			return append(appendMinor(buf, amount), '"')
		})
		follow, o.Outcome.Status, net = &e, StatusRejected, 0
	}
	if o.Outcome.Creator >= 0 {
		o.Outcome.Earnings = Earnings(b.Payout, net, o.Outcome.Status)
	} else {
		o.Outcome.Status = ""
	}

	switch {
	case follow != nil && r.Float64() < m.OutOfOrder:
		o.Now, o.Later = []Event{*follow}, []Event{placed}
	case follow != nil:
		o.Now, o.Later = []Event{placed}, []Event{*follow}
	default:
		o.Now = []Event{placed}
	}
	if r.Float64() < m.Duplicate {
		d := o.Now[0]
		d.Dup = true
		o.Later = append(o.Later, d)
	}
	for i := range o.Now {
		o.Now[i].Brand = bi
	}
	for i := range o.Later {
		o.Later[i].Brand = bi
	}
	return o
}

// event encodes one event; extra appends the type's own members.
func (s *Stream) event(order, suffix, typ string, at time.Time, extra func([]byte) []byte) Event {
	buf := s.buf[:0]
	buf = append(buf, `{"event_id":"`...)
	buf = append(buf, order...)
	buf = append(buf, '-')
	buf = append(buf, suffix...)
	buf = append(buf, `","type":"`...)
	buf = append(buf, typ...)
	buf = append(buf, `","order_id":"`...)
	buf = append(buf, order...)
	buf = append(buf, `","occurred_at":"`...)
	buf = at.UTC().AppendFormat(buf, occurredLayout)
	buf = append(buf, '"')
	if extra != nil {
		buf = extra(buf)
	}
	buf = append(buf, '}')
	s.buf = buf
	return Event{JSON: append([]byte(nil), buf...)}
}

// Earnings is what an attributed order earns under p with net amount net
// (minor units) and the given status: nothing when rejected; a fixed
// payout whole; a percent payout of the net, rounded half away from zero to
// the minor unit.
func Earnings(p Payout, net int64, status string) int64 {
	switch {
	case status == StatusRejected:
		return 0
	case !p.Percent:
		return p.Value
	default:
		return (net*p.Value + 50) / 100
	}
}

// appendMinor appends v minor units as a decimal with two digits.
func appendMinor(buf []byte, v int64) []byte {
	buf = strconv.AppendInt(buf, v/100, 10)
	buf = append(buf, '.')
	c := v % 100
	if c < 10 {
		buf = append(buf, '0')
	}
	return strconv.AppendInt(buf, c, 10)
}

// lower is strings.ToLower for the ASCII codes the generator makes.
func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
