package chproj

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/money"
	"github.com/attrib-engine/attrib/schemas"
)

// The money columns are Decimal(18, 3); every amount the engine writes must
// fit them exactly.
const (
	moneyScale  = 3
	moneyDigits = 18
)

// A compile-time check that the money package's limits fit the columns.
var _ [moneyDigits - money.MaxIntegerDigits - money.MaxMinorUnits]struct{}
var _ [moneyScale - money.MaxMinorUnits]struct{}

// DateTime holds seconds from 1970-01-01 to 2106-02-07 06:28:15 UTC.
var (
	minDateTime = time.Unix(0, 0)
	maxDateTime = time.Unix(1<<32-1, 0)
)

type orderKey struct{ brand, order string }

type orderRow struct {
	creatorID, brandID, orderID             string
	offerID, offerName, requestID           string
	promoCode, platform, status             string
	placedAt, lastEventAt, updatedAt        time.Time
	amount, netAmount, earnings             decimal.Decimal
	currency, country, earningsCurrency     string
	payoutType, payoutValue, payoutCurrency string
	holdDays                                uint16
	cause, decision                         string
	version                                 uint64
}

type unattributedRow struct {
	brandID, orderID  string
	placedAt, updated time.Time
	promoCodes        []string
	reason, decision  string
	amount            decimal.Decimal
	currency, country string
	version           uint64
}

type principalRow struct {
	id, name   string
	registered time.Time
	version    uint64
}

type offerKey struct{ brand, offer string }

type offerNameRow struct {
	brandID, offerID, name string
	namedAt                time.Time
	version                uint64
}

type requestKey struct{ brand, request, typ string }

type requestEventRow struct {
	brandID, requestID, typ      string
	offerID, creatorID, platform string
	code, normalizedCode, reason string
	occurredAt, recordedAt       time.Time
	version                      uint64
}

// rows is what one or more batches add to the tables: the latest row per
// key (highest version; at equal versions the later one), and the
// watermark of each partition they came from.
type rows struct {
	orders       map[orderKey]orderRow
	unattributed map[orderKey]unattributedRow
	brands       map[string]principalRow
	creators     map[string]principalRow
	offerNames   map[offerKey]offerNameRow
	requests     map[requestKey]requestEventRow
	marks        map[partitionKey]mark
	// days holds, per UTC day of placed time and partition, the next offset
	// of the batches that wrote orders rows of that day (order_day_marks).
	days map[dayKey]int64
	// events counts the events added (before deduplication).
	events int
}

type partitionKey struct {
	topic     string
	partition int
}

// dayKey is a UTC day of placed time (the time of its midnight) and a
// partition.
type dayKey struct {
	day time.Time
	partitionKey
}

// mark is how far a partition has been applied: the next offset and the
// latest recorded_at of its events.
type mark struct {
	next         int64
	lastRecorded time.Time
}

func newRows() *rows {
	return &rows{
		orders:       make(map[orderKey]orderRow),
		unattributed: make(map[orderKey]unattributedRow),
		brands:       make(map[string]principalRow),
		creators:     make(map[string]principalRow),
		offerNames:   make(map[offerKey]offerNameRow),
		requests:     make(map[requestKey]requestEventRow),
		marks:        make(map[partitionKey]mark),
		days:         make(map[dayKey]int64),
	}
}

func (r *rows) addOrder(o orderRow) {
	k := orderKey{o.brandID, o.orderID}
	if cur, ok := r.orders[k]; !ok || o.version >= cur.version {
		r.orders[k] = o
	}
}

func (r *rows) addUnattributed(u unattributedRow) {
	k := orderKey{u.brandID, u.orderID}
	if cur, ok := r.unattributed[k]; !ok || u.version >= cur.version {
		r.unattributed[k] = u
	}
}

func addVersioned[K comparable, V any](m map[K]V, k K, v V, version func(V) uint64) {
	if cur, ok := m[k]; !ok || version(v) >= version(cur) {
		m[k] = v
	}
}

func (r *rows) addMark(k partitionKey, m mark) {
	cur, ok := r.marks[k]
	if !ok {
		r.marks[k] = m
		return
	}
	cur.next = max(cur.next, m.next)
	if m.lastRecorded.After(cur.lastRecorded) {
		cur.lastRecorded = m.lastRecorded
	}
	r.marks[k] = cur
}

// merge adds o's rows to r.
func (r *rows) merge(o *rows) {
	for _, v := range o.orders {
		r.addOrder(v)
	}
	for _, v := range o.unattributed {
		r.addUnattributed(v)
	}
	for k, v := range o.brands {
		addVersioned(r.brands, k, v, principalVersion)
	}
	for k, v := range o.creators {
		addVersioned(r.creators, k, v, principalVersion)
	}
	for k, v := range o.offerNames {
		addVersioned(r.offerNames, k, v, offerVersion)
	}
	for k, v := range o.requests {
		addVersioned(r.requests, k, v, requestVersion)
	}
	for k, v := range o.marks {
		r.addMark(k, v)
	}
	for k, v := range o.days {
		r.days[k] = max(r.days[k], v)
	}
	r.events += o.events
}

func principalVersion(b principalRow) uint64  { return b.version }
func offerVersion(o offerNameRow) uint64      { return o.version }
func requestVersion(q requestEventRow) uint64 { return q.version }

// outcome of one message.
type outcome int

const (
	projected outcome = iota
	ignored
	rejected
)

// build turns a batch into rows. Messages that cannot be projected are
// rejected on the batch (they go to the dead-letter topic); events the
// projection has no use for are ignored.
func build(b *eventstore.Batch) (*rows, [3]int) {
	r := newRows()
	var counts [3]int
	var last time.Time
	for i := range b.Messages {
		m := &b.Messages[i]
		if m.Envelope.RecordedAt.After(last) {
			last = m.Envelope.RecordedAt
		}
		o, err := r.add(m)
		if err != nil {
			b.Reject(i, "clickhouse projection: "+err.Error())
			o = rejected
		}
		counts[o]++
	}
	r.events = len(b.Messages)
	pk := partitionKey{b.Topic, b.Partition}
	r.addMark(pk, mark{next: b.Next, lastRecorded: last})
	for _, o := range r.orders {
		r.days[dayKey{o.placedAt.UTC().Truncate(24 * time.Hour), pk}] = b.Next
	}
	return r, counts
}

// add decodes one message and adds its row.
func (r *rows) add(m *eventstore.Message) (outcome, error) {
	ev, err := schemas.DecodeTrusted(m.Envelope)
	if err != nil {
		return rejected, err
	}
	env := &m.Envelope
	version := uint64(m.Offset) // catalog rows: log order within the partition
	switch e := schemas.ValueOf(ev).(type) {
	case schemas.OrderAttributed:
		o, err := orderFrom(&e.Attribution, schemas.TypeOrderAttributed, env)
		if err != nil {
			return rejected, err
		}
		r.addOrder(o)
	case schemas.OrderEarningsAdjusted:
		o, err := orderFrom(&e.Attribution, e.Cause, env)
		if err != nil {
			return rejected, err
		}
		r.addOrder(o)
	case schemas.OrderUnattributed:
		u, err := unattributedFrom(&e, env)
		if err != nil {
			return rejected, err
		}
		r.addUnattributed(u)
	case schemas.BrandRegistered:
		t, err := dateTime("occurred_at", env.OccurredAt)
		if err != nil {
			return rejected, err
		}
		addVersioned(r.brands, e.BrandID, principalRow{id: e.BrandID, name: e.Name, registered: t, version: version}, principalVersion)
	case schemas.CreatorRegistered:
		t, err := dateTime("occurred_at", env.OccurredAt)
		if err != nil {
			return rejected, err
		}
		addVersioned(r.creators, e.CreatorID, principalRow{id: e.CreatorID, name: e.Name, registered: t, version: version}, principalVersion)
	case schemas.OfferPublished:
		return r.addOfferName(e.BrandID, e.OfferID, e.Name, env, version)
	case schemas.OfferChanged:
		if e.Name == nil {
			return ignored, nil
		}
		return r.addOfferName(e.BrandID, e.OfferID, *e.Name, env, version)
	case schemas.CodeRequested:
		return r.addRequest(requestEventRow{brandID: e.BrandID, requestID: e.RequestID, offerID: e.OfferID, creatorID: e.CreatorID, platform: e.Platform}, env, version)
	case schemas.CodeConfirmed:
		return r.addRequest(requestEventRow{brandID: e.BrandID, requestID: e.RequestID, offerID: e.OfferID, creatorID: e.CreatorID, platform: e.Platform,
			code: e.Code, normalizedCode: e.NormalizedCode}, env, version)
	case schemas.CodeRejected:
		return r.addRequest(requestEventRow{brandID: e.BrandID, requestID: e.RequestID, offerID: e.OfferID, creatorID: e.CreatorID, reason: e.Reason}, env, version)
	case schemas.CodeRevoked:
		return r.addRequest(requestEventRow{brandID: e.BrandID, requestID: e.RequestID, code: e.Code, normalizedCode: e.NormalizedCode}, env, version)
	case schemas.AnalystRegistered, schemas.BrandAPIKeyRotated, schemas.BrandWebhookSecretRotated,
		schemas.CreatorTokenRotated, schemas.AnalystTokenRotated,
		schemas.ConnectorSet, schemas.ConnectorRemoved:
		return ignored, nil
	default:
		return rejected, fmt.Errorf("event type %s is not projected (from %s)", env.Type, m.Topic)
	}
	return projected, nil
}

func (r *rows) addOfferName(brand, offer, name string, env *schemas.Envelope, version uint64) (outcome, error) {
	t, err := dateTime("occurred_at", env.OccurredAt)
	if err != nil {
		return rejected, err
	}
	addVersioned(r.offerNames, offerKey{brand, offer}, offerNameRow{brandID: brand, offerID: offer, name: name, namedAt: t, version: version}, offerVersion)
	return projected, nil
}

func (r *rows) addRequest(q requestEventRow, env *schemas.Envelope, version uint64) (outcome, error) {
	var err error
	if q.occurredAt, err = dateTime("occurred_at", env.OccurredAt); err != nil {
		return rejected, err
	}
	if q.recordedAt, err = dateTime("recorded_at", env.RecordedAt); err != nil {
		return rejected, err
	}
	q.typ = env.Type
	q.version = version
	addVersioned(r.requests, requestKey{q.brandID, q.requestID, q.typ}, q, requestVersion)
	return projected, nil
}

func orderFrom(a *schemas.Attribution, cause string, env *schemas.Envelope) (orderRow, error) {
	o := orderRow{
		creatorID: a.CreatorID, brandID: a.BrandID, orderID: a.OrderID,
		offerID: a.OfferID, offerName: a.OfferName, requestID: a.RequestID,
		promoCode: a.PromoCode, platform: a.Platform, status: a.Status,
		currency: a.Currency, country: a.Country, earningsCurrency: a.EarningsCurrency,
		payoutType: a.Terms.Type, payoutValue: a.Terms.Value, payoutCurrency: a.Terms.Currency,
		cause: cause, version: a.Version,
	}
	if a.Terms.HoldDays < 0 || a.Terms.HoldDays > 1<<16-1 {
		return o, fmt.Errorf("hold_days %d out of range", a.Terms.HoldDays)
	}
	o.holdDays = uint16(a.Terms.HoldDays)
	var err error
	if o.amount, err = moneyValue("amount", a.Amount); err != nil {
		return o, err
	}
	if o.netAmount, err = moneyValue("net_amount", a.NetAmount); err != nil {
		return o, err
	}
	if o.earnings, err = moneyValue("earnings", a.Earnings); err != nil {
		return o, err
	}
	if o.placedAt, err = dateTime("placed_at", a.PlacedAt); err != nil {
		return o, err
	}
	if o.lastEventAt, err = dateTime("last_event_at", a.LastEventAt); err != nil {
		return o, err
	}
	if o.updatedAt, err = dateTime("recorded_at", env.RecordedAt); err != nil {
		return o, err
	}
	if o.decision, err = decisionJSON(a.Decision); err != nil {
		return o, err
	}
	return o, nil
}

func unattributedFrom(e *schemas.OrderUnattributed, env *schemas.Envelope) (unattributedRow, error) {
	u := unattributedRow{
		brandID: e.BrandID, orderID: e.OrderID, promoCodes: e.PromoCodes, reason: e.Reason,
		currency: e.Currency, country: e.Country, version: e.Version,
	}
	if u.promoCodes == nil {
		u.promoCodes = []string{}
	}
	var err error
	if u.amount, err = moneyValue("amount", e.Amount); err != nil {
		return u, err
	}
	if u.placedAt, err = dateTime("placed_at", e.PlacedAt); err != nil {
		return u, err
	}
	if u.updated, err = dateTime("recorded_at", env.RecordedAt); err != nil {
		return u, err
	}
	if u.decision, err = decisionJSON(e.Decision); err != nil {
		return u, err
	}
	return u, nil
}

// moneyValue parses an amount of an event into a value the Decimal(18, 3)
// columns hold exactly; anything else is refused rather than rounded.
func moneyValue(field, s string) (decimal.Decimal, error) {
	d, err := money.ParseDecimal(s, moneyScale)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%s: %w", field, err)
	}
	return d, nil
}

func dateTime(field string, t time.Time) (time.Time, error) {
	if t.Before(minDateTime) || t.After(maxDateTime) {
		return time.Time{}, fmt.Errorf("%s %s is outside ClickHouse DateTime (1970 to 2106)", field, t.UTC().Format(time.RFC3339))
	}
	return t.UTC(), nil
}

// decisionJSON is the decision as json.Marshal writes it, with no
// candidates as []. Its usual content (codes, ids, outcomes and times in
// plain ASCII) is written directly, without reflection, a cost the
// projector pays per order; anything else goes through json.Marshal.
func decisionJSON(d schemas.Decision) (string, error) {
	if d.Candidates == nil {
		d.Candidates = []schemas.Candidate{}
	}
	if s, ok := plainDecisionJSON(d); ok {
		return s, nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("decision: %w", err)
	}
	return string(b), nil
}

// plainDecisionJSON writes d as json.Marshal does when every string is
// plain (printable ASCII that encoding/json copies as it is: not '"', '\\',
// '<', '>' or '&'); ok is false otherwise.
func plainDecisionJSON(d schemas.Decision) (string, bool) {
	b := make([]byte, 0, 64+256*len(d.Candidates))
	b = append(b, `{"candidates":[`...)
	str := func(name, v string, omitEmpty bool) bool {
		if omitEmpty && v == "" {
			return true
		}
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return false
			}
		}
		if name != "code" {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":"`...)
		b = append(b, v...)
		b = append(b, '"')
		return true
	}
	tm := func(name string, t *time.Time) bool {
		if t == nil {
			return true
		}
		v, err := t.MarshalJSON()
		if err != nil {
			return false
		}
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, `":`...)
		b = append(b, v...)
		return true
	}
	for i, c := range d.Candidates {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		if !str("code", c.Code, false) || !str("normalized_code", c.NormalizedCode, false) || !str("outcome", c.Outcome, false) ||
			!str("creator_id", c.CreatorID, true) || !str("offer_id", c.OfferID, true) || !str("request_id", c.RequestID, true) ||
			!tm("active_from", c.ActiveFrom) || !tm("revoked_at", c.RevokedAt) {
			return "", false
		}
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	return string(b), true
}

// partitionLabel formats a partition number for a metric label.
func partitionLabel(p int) string { return strconv.Itoa(p) }
