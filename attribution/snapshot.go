package attribution

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/money"
	"github.com/attrib-engine/attrib/promocode"
	"github.com/attrib-engine/attrib/schemas"
)

// A snapshot is an OrderState in a compact binary form: what the next
// Apply, Decide and HoldDue need and nothing else. It holds the placement's
// facts, each distinct event's type, time, arrival number and refund with
// the IDHash of its shop_event_id (or of its event id, for an event
// without one), and the decision of the last emitted row with its version.
// No payload, no row and no id text of the order's events is kept: Decide
// builds the next row from these. The order's brand and id are not in it
// either (the caller's key names them).
//
// RestoreSnapshot of AppendSnapshot's output is a state that behaves as
// the original in every call, and snapshots again to the same bytes. The
// one thing it forgets is the event ids of events with a shop_event_id:
// such an event delivered again is recognised by its shop_event_id and
// fingerprint instead, with the same outcome (a duplicate).
//
// Layout: 'S', snapshotFormat, uvarint Version, uvarint EmittedVersion
// (so that SnapshotProgress reads them without decoding the rest), a flags
// byte, then the placement, the events, the shop ids beyond the events'
// and the decision. Strings are length-prefixed (uvarint), a few known
// words (outcomes, payout types, platforms) one byte; ids of the form
// "abc_" and 24 lowercase hex digits take 17 bytes; decimals are an
// exponent and a coefficient as varints; times in UTC are varints of
// their seconds (and nanoseconds if any), others time.Time's binary form.
const (
	snapshotMagic  = 'S'
	snapshotFormat = 1
)

// Snapshot flags.
const (
	snapPlaced = 1 << iota
	snapHoldSeen
	snapDecided
	snapAttributed
)

// Event flags, after the type's number in the low nibble.
const (
	snapEvShop   = 0x10 // the hash is the shop_event_id's, not the event id's
	snapEvRefund = 0x20
	snapEvNanos  = 0x40
)

// Decision flags.
const (
	decWinnerCode    = 1 << iota // the winner's code is its won candidate's normalised code
	decOrderCurrency             // the terms' currency is the order's
)

// Candidate flags.
const (
	candPlacedCode = 1 << iota // Code is the placement's code at the same index
	candNormalized             // NormalizedCode is promocode.Normalize(Code)
	candWinnerIDs              // CreatorID, OfferID and RequestID are the winner's
	candActiveFrom
	candRevokedAt
)

// eventTypes numbers the order event types in snapshots (from 1).
var eventTypes = []string{"", schemas.TypeOrderPlaced, schemas.TypeOrderConfirmed, schemas.TypeOrderCancelled,
	schemas.TypeOrderRefunded, schemas.TypeOrderHoldExpired}

// precOf is the fold precedence of an event type.
func precOf(typ string) int {
	switch typ {
	case schemas.TypeOrderPlaced:
		return precPlaced
	case schemas.TypeOrderRefunded:
		return precRefunded
	case schemas.TypeOrderCancelled:
		return precCancelled
	case schemas.TypeOrderConfirmed:
		return precConfirmed
	}
	return precHoldExpired
}

// Words a snapshot writes as one byte (their index from 1); 0 is followed
// by the text.
// The list only grows: a word's number is part of the stored format.
var snapWords = []string{"", schemas.OutcomeWon, schemas.OutcomePassedOver, schemas.OutcomeUnknownCode,
	schemas.OutcomeCodeNotActive, schemas.OutcomeCodeRevoked, schemas.ReasonNoCode, schemas.PayoutFixed, schemas.PayoutPercent,
	"instagram", "tiktok", "youtube", "telegram", "vk"}

// AppendSnapshot appends the snapshot of st to dst.
func AppendSnapshot(dst []byte, st *OrderState) []byte {
	e := snapEncoder{b: dst}
	e.b = append(e.b, snapshotMagic, snapshotFormat)
	e.uvarint(st.Version())
	e.uvarint(st.emitted.version)
	var flags byte
	if st.placed != nil {
		flags |= snapPlaced
	}
	if st.holdSeen {
		flags |= snapHoldSeen
	}
	d := st.emitted.dec
	if d != nil {
		flags |= snapDecided
		if d.attributed {
			flags |= snapAttributed
		}
	}
	e.b = append(e.b, flags)
	var base int64
	if p := st.placed; p != nil {
		base = p.at.Unix()
		e.time(p.at)
		e.uvarint(uint64(len(p.codes)))
		for _, c := range p.codes {
			e.str(c)
		}
		// The amount as its text reads (amountText): the form Parse gives
		// back, whatever digits the shop sent.
		amount, err := decimal.NewFromString(p.amountText)
		if err != nil {
			panic("attribution: an amount's text does not parse: " + p.amountText) // money.Amount.String is a decimal
		}
		e.decimal(amount)
		e.str(p.amount.Currency())
		e.str(p.country)
	}
	// The events, in fold order; the shop ids of the map beyond theirs
	// (a placement sent again with another one) after them.
	shops := make(map[uint64]bool, len(st.events))
	e.uvarint(uint64(len(st.events)))
	for i := range st.events {
		ev := &st.events[i]
		t := byte(typeNumber(ev.typ))
		h := ev.id
		if ev.shop != 0 {
			t |= snapEvShop
			h = ev.shop
			shops[ev.shop] = true
		}
		if ev.typ == schemas.TypeOrderRefunded {
			t |= snapEvRefund
		}
		if ev.at.Nanosecond() != 0 {
			t |= snapEvNanos
		}
		e.b = append(e.b, t)
		e.varint(ev.at.Unix() - base)
		if t&snapEvNanos != 0 {
			e.uvarint(uint64(ev.at.Nanosecond()))
		}
		e.uvarint(ev.seq)
		e.b = binary.BigEndian.AppendUint64(e.b, h)
		if t&snapEvRefund != 0 {
			e.decimal(ev.refund)
		}
	}
	var extraShops []uint64
	st.shopEvents.each(func(k, v uint64) {
		if !shops[k] {
			extraShops = append(extraShops, k, v)
		}
	})
	sortHashes(extraShops, 2)
	e.uvarint(uint64(len(extraShops) / 2))
	for _, h := range extraShops {
		e.b = binary.BigEndian.AppendUint64(e.b, h)
	}
	if d != nil {
		e.decision(d, st.placed)
	}
	return e.b
}

// SnapshotProgress returns the Version and EmittedVersion of the state a
// snapshot holds, without decoding the rest; ok is false if b is not a
// snapshot.
func SnapshotProgress(b []byte) (version, emitted uint64, ok bool) {
	if len(b) < 2 || b[0] != snapshotMagic || b[1] != snapshotFormat {
		return 0, 0, false
	}
	d := snapDecoder{b: b[2:]}
	version, emitted = d.uvarint(), d.uvarint()
	return version, emitted, d.err == nil
}

// IsSnapshot reports whether b starts as a snapshot does.
func IsSnapshot(b []byte) bool { return len(b) >= 2 && b[0] == snapshotMagic }

// RestoreSnapshot sets st to the state of order brandID/orderID that the
// snapshot b holds. A snapshot that does not decode is an error, and st is
// then unchanged.
func RestoreSnapshot(st *OrderState, brandID, orderID string, b []byte) error {
	if brandID == "" || orderID == "" {
		return errors.New("restore snapshot: brand_id and order_id must be set")
	}
	ns, err := decodeSnapshot(b)
	if err != nil {
		return fmt.Errorf("restore snapshot of order %s: %w", schemas.OrderKey(brandID, orderID), err)
	}
	ns.brandID, ns.orderID = brandID, orderID
	if ns.emitted.dec != nil && ns.emitted.dec.attributed {
		ns.emitted.dec.winner.BrandID = brandID
	}
	*st = ns
	return nil
}

func decodeSnapshot(b []byte) (OrderState, error) {
	var st OrderState
	d := snapDecoder{b: b}
	if d.byte() != snapshotMagic || d.byte() != snapshotFormat {
		return st, errors.New("not a snapshot of a known format")
	}
	version := d.uvarint()
	st.emitted.version = d.uvarint()
	flags := d.byte()
	st.holdSeen = flags&snapHoldSeen != 0
	var base int64
	if flags&snapPlaced != 0 {
		p := &placement{at: d.time()}
		base = p.at.Unix()
		n := d.count()
		if n > 0 {
			codes := make([]string, 2*n)
			for i := range n {
				codes[i] = d.str()
				codes[n+i] = promocode.Normalize(codes[i])
			}
			p.codes, p.normalized = codes[:n:n], codes[n:]
		}
		amount := d.decimal()
		currency := d.str()
		p.country = d.str()
		if d.err == nil {
			a, err := money.Parse(amount.String(), currency)
			if err != nil {
				d.fail(fmt.Errorf("amount: %w", err))
			}
			p.amount, p.amountText = a, a.String()
		}
		st.placed = p
	}
	n := d.count()
	if n > 0 {
		st.events = make([]orderEvent, n, max(n, 4))
	}
	for i := range st.events {
		ev := &st.events[i]
		t := d.byte()
		num := int(t & 0x0f)
		if num == 0 || num >= len(eventTypes) {
			d.fail(fmt.Errorf("event %d: unknown type %d", i, num))
			break
		}
		ev.typ = eventTypes[num]
		ev.prec = precOf(ev.typ)
		sec := base + d.varint()
		var nsec uint64
		if t&snapEvNanos != 0 {
			if nsec = d.uvarint(); nsec == 0 || nsec >= 1e9 {
				d.fail(fmt.Errorf("event %d: nanoseconds %d", i, nsec))
			}
		}
		ev.at = time.Unix(sec, int64(nsec)).UTC()
		ev.seq = d.uvarint()
		if t&snapEvShop != 0 {
			ev.shop = d.uint64()
		} else {
			ev.id = d.uint64()
			st.seen.set(ev.id, 0)
		}
		if t&snapEvRefund != 0 {
			ev.refund = d.decimal()
		}
		if d.err != nil {
			break
		}
	}
	for range d.count() {
		k := d.uint64()
		st.shopEvents.set(k, d.uint64())
	}
	// The shop ids of the events map to their events' fingerprints, which
	// the snapshot does not repeat.
	for i := range st.events {
		ev := &st.events[i]
		if ev.shop != 0 && d.err == nil {
			st.shopEvents.set(ev.shop, st.fingerprintOf(ev))
		}
	}
	if flags&snapDecided != 0 {
		st.emitted.dec = d.decision(flags&snapAttributed != 0, st.placed)
	}
	switch {
	case d.err != nil:
	case len(d.b) > 0:
		d.fail(errors.New("trailing bytes"))
	case uint64(len(st.events)) != version:
		d.fail(fmt.Errorf("%d events, version %d", len(st.events), version))
	}
	if d.err != nil {
		return OrderState{}, d.err
	}
	return st, nil
}

// fingerprintOf is the fingerprint Apply recorded for an applied event's
// shop_event_id.
func (st *OrderState) fingerprintOf(ev *orderEvent) uint64 {
	switch ev.typ {
	case schemas.TypeOrderPlaced:
		if st.placed != nil {
			return placedFingerprint(st.placed, ev.at)
		}
	case schemas.TypeOrderRefunded:
		return shopFingerprint(ev.typ, ev.refund.String(), ev.at)
	}
	return shopFingerprint(ev.typ, "", ev.at)
}

func typeNumber(typ string) int {
	for i, t := range eventTypes {
		if i > 0 && t == typ {
			return i
		}
	}
	panic("attribution: snapshot of an event of type " + typ) // Apply keeps order events only
}

// sortHashes sorts a list of groups of n hashes by their first, so that a
// snapshot does not depend on a map's order.
func sortHashes(h []uint64, n int) {
	for i := n; i < len(h); i += n {
		for j := i; j > 0 && h[j] < h[j-n]; j -= n {
			for k := range n {
				h[j+k], h[j-n+k] = h[j-n+k], h[j+k]
			}
		}
	}
}

func (e *snapEncoder) decision(d *decision, p *placement) {
	var flags byte
	w := &d.winner
	won := -1
	for i := range d.candidates {
		if d.candidates[i].Outcome == schemas.OutcomeWon {
			won = i
			break
		}
	}
	if d.attributed {
		if won >= 0 && d.candidates[won].NormalizedCode == w.Code {
			flags |= decWinnerCode
		}
		if p != nil && d.terms.Currency == p.amount.Currency() {
			flags |= decOrderCurrency
		}
	}
	e.b = append(e.b, flags)
	if !d.attributed {
		e.word(d.reason)
	} else {
		if flags&decWinnerCode == 0 {
			e.str(w.Code)
		}
		e.id(w.CreatorID)
		e.id(w.OfferID)
		e.id(w.RequestID)
		e.word(w.Platform)
		e.str(d.offerName)
		e.word(d.terms.Type)
		e.str(d.terms.Value)
		if flags&decOrderCurrency == 0 {
			e.str(d.terms.Currency)
		}
		e.varint(int64(d.terms.HoldDays))
	}
	if d.candidates == nil {
		e.uvarint(0)
		return
	}
	e.uvarint(uint64(len(d.candidates)) + 1)
	for i := range d.candidates {
		c := &d.candidates[i]
		var flags byte
		if p != nil && i < len(p.codes) && p.codes[i] == c.Code {
			flags |= candPlacedCode
		}
		if promocode.Normalize(c.Code) == c.NormalizedCode {
			flags |= candNormalized
		}
		if d.attributed && c.CreatorID == w.CreatorID && c.OfferID == w.OfferID && c.RequestID == w.RequestID {
			flags |= candWinnerIDs
		}
		if c.ActiveFrom != nil {
			flags |= candActiveFrom
		}
		if c.RevokedAt != nil {
			flags |= candRevokedAt
		}
		e.b = append(e.b, flags)
		if flags&candPlacedCode == 0 {
			e.str(c.Code)
		}
		if flags&candNormalized == 0 {
			e.str(c.NormalizedCode)
		}
		e.word(c.Outcome)
		if flags&candWinnerIDs == 0 {
			e.id(c.CreatorID)
			e.id(c.OfferID)
			e.id(c.RequestID)
		}
		if c.ActiveFrom != nil {
			e.time(*c.ActiveFrom)
		}
		if c.RevokedAt != nil {
			e.time(*c.RevokedAt)
		}
	}
}

func (d *snapDecoder) decision(attributed bool, p *placement) *decision {
	dec := &decision{attributed: attributed}
	flags := d.byte()
	w := &dec.winner
	if !attributed {
		dec.reason = d.word()
	} else {
		if flags&decWinnerCode == 0 {
			w.Code = d.str()
		}
		w.CreatorID = d.id()
		w.OfferID = d.id()
		w.RequestID = d.id()
		w.Platform = d.word()
		dec.offerName = d.str()
		dec.terms.Type = d.word()
		dec.terms.Value = d.str()
		if flags&decOrderCurrency == 0 {
			dec.terms.Currency = d.str()
		} else if p != nil {
			dec.terms.Currency = p.amount.Currency()
		} else {
			d.fail(errors.New("decision: the terms' currency is the order's, but the order is not placed"))
		}
		dec.terms.HoldDays = int(d.varint())
	}
	n := d.uvarint() // the count + 1, 0 for none
	if n > uint64(len(d.b))+1 {
		d.fail(errSnapShort)
		n = 0
	}
	if n > 0 {
		dec.candidates = make([]schemas.Candidate, n-1)
	}
	won := -1
	for i := range dec.candidates {
		c := &dec.candidates[i]
		cf := d.byte()
		if cf&candPlacedCode != 0 {
			if p == nil || i >= len(p.codes) {
				d.fail(fmt.Errorf("candidate %d: no placed code to repeat", i))
				return nil
			}
			c.Code = p.codes[i]
		} else {
			c.Code = d.str()
		}
		if cf&candNormalized != 0 {
			c.NormalizedCode = promocode.Normalize(c.Code)
		} else {
			c.NormalizedCode = d.str()
		}
		c.Outcome = d.word()
		if c.Outcome == schemas.OutcomeWon && won < 0 {
			won = i
		}
		if cf&candWinnerIDs != 0 {
			c.CreatorID, c.OfferID, c.RequestID = w.CreatorID, w.OfferID, w.RequestID
		} else {
			c.CreatorID, c.OfferID, c.RequestID = d.id(), d.id(), d.id()
		}
		if cf&candActiveFrom != 0 {
			t := d.time()
			c.ActiveFrom = &t
		}
		if cf&candRevokedAt != 0 {
			t := d.time()
			c.RevokedAt = &t
		}
	}
	if attributed && flags&decWinnerCode != 0 {
		if won < 0 {
			d.fail(errors.New("decision: the winner's code is its won candidate's, but none won"))
		} else {
			w.Code = dec.candidates[won].NormalizedCode
		}
	}
	if d.err == nil && attributed {
		if err := dec.parseTerms(); err != nil {
			d.fail(fmt.Errorf("decision: %w", err))
		}
	}
	return dec
}

// snapEncoder appends a snapshot's parts.
type snapEncoder struct{ b []byte }

func (e *snapEncoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *snapEncoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *snapEncoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }

// word writes one of snapWords as its index, anything else as 0 and the
// text.
func (e *snapEncoder) word(s string) {
	for i, w := range snapWords {
		if i > 0 && w == s {
			e.b = append(e.b, byte(i))
			return
		}
	}
	e.b = append(e.b, 0)
	e.str(s)
}

// id writes an id of the form "abc_" and 24 lowercase hex digits (as the
// engine makes them) as 1, the prefix and 12 bytes; anything else as 0 and
// the text.
func (e *snapEncoder) id(s string) {
	if len(s) == 28 && s[3] == '_' && isLowerHex(s[4:]) {
		e.b = append(e.b, 1)
		e.b = append(e.b, s[:4]...)
		e.b, _ = hex.AppendDecode(e.b, []byte(s[4:]))
		return
	}
	e.b = append(e.b, 0)
	e.str(s)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// time writes a time as a varint of its Unix seconds shifted left by 2
// with the form in the low bits: 0 UTC, 1 UTC with nanoseconds (a uvarint
// after), 2 another zone (its binary form after, so that the zone is
// kept).
func (e *snapEncoder) time(t time.Time) {
	if t.Location() != time.UTC {
		bin, err := t.MarshalBinary()
		if err != nil {
			bin, _ = t.UTC().MarshalBinary() // a zone offset beyond the binary form's range
		}
		e.varint(2)
		e.str(string(bin))
		return
	}
	if ns := t.Nanosecond(); ns != 0 {
		e.varint(t.Unix()<<2 | 1)
		e.uvarint(uint64(ns))
		return
	}
	e.varint(t.Unix() << 2)
}

// decimal writes a decimal as a varint of its exponent shifted left by 1,
// then its coefficient as a varint (low bit 0) or, past an int64, its text
// (low bit 1).
func (e *snapEncoder) decimal(v decimal.Decimal) {
	c := v.Coefficient()
	if c.IsInt64() {
		e.varint(int64(v.Exponent()) << 1)
		e.varint(c.Int64())
		return
	}
	e.varint(1)
	e.str(v.String())
}

// snapDecoder reads a snapshot's parts; the first error sticks.
type snapDecoder struct {
	b   []byte
	err error
}

var errSnapShort = errors.New("truncated")

func (d *snapDecoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *snapDecoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail(errSnapShort)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *snapDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errSnapShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *snapDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errSnapShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that cannot exceed the bytes left.
func (d *snapDecoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errSnapShort)
		return 0
	}
	return int(n)
}

func (d *snapDecoder) uint64() uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail(errSnapShort)
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *snapDecoder) raw(n int) []byte {
	if d.err != nil || n > len(d.b) {
		d.fail(errSnapShort)
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *snapDecoder) str() string { return string(d.raw(d.count())) }

func (d *snapDecoder) word() string {
	i := int(d.byte())
	switch {
	case i == 0:
		return d.str()
	case i < len(snapWords):
		return snapWords[i]
	}
	d.fail(fmt.Errorf("unknown word %d", i))
	return ""
}

func (d *snapDecoder) id() string {
	switch d.byte() {
	case 0:
		return d.str()
	case 1:
		p := d.raw(16)
		if d.err != nil {
			return ""
		}
		return string(p[:4]) + hex.EncodeToString(p[4:])
	}
	d.fail(errors.New("unknown id form"))
	return ""
}

func (d *snapDecoder) time() time.Time {
	v := d.varint()
	switch v & 3 {
	case 0:
		return time.Unix(v>>2, 0).UTC()
	case 1:
		ns := d.uvarint()
		if ns == 0 || ns >= 1e9 {
			d.fail(fmt.Errorf("nanoseconds %d", ns))
		}
		return time.Unix(v>>2, int64(ns)).UTC()
	case 2:
		var t time.Time
		if p := d.raw(d.count()); d.err == nil {
			if err := t.UnmarshalBinary(p); err != nil {
				d.fail(err)
			}
		}
		return t
	}
	d.fail(errors.New("unknown time form"))
	return time.Time{}
}

func (d *snapDecoder) decimal() decimal.Decimal {
	v := d.varint()
	if v&1 == 0 {
		exp := v >> 1
		c := d.varint()
		if exp < math.MinInt32 || exp > math.MaxInt32 {
			d.fail(fmt.Errorf("decimal exponent %d", exp))
			return decimal.Decimal{}
		}
		return decimal.New(c, int32(exp))
	}
	if v != 1 {
		d.fail(errors.New("unknown decimal form"))
		return decimal.Decimal{}
	}
	r, err := decimal.NewFromString(d.str())
	if err != nil {
		d.fail(fmt.Errorf("decimal: %w", err))
	}
	return r
}
