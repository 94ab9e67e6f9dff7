package chproj

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/readmodel"
)

// column is one column of an insert and its values, a slice of the
// column's Go type, appended column-wise (no per-value reflection).
type column struct {
	name   string
	values any
}

// insertData writes the rows of a flush: one native batch insert per table
// that has rows, the tables in parallel (each insert is mostly a round trip
// and the server's work on its part). A failure leaves some tables written
// and others not; the retry writes them all again, which the versioned
// tables absorb.
func (p *Projector) insertData(ctx context.Context, r *rows) error {
	orders := sync.OnceValue(func() []column { return orderColumns(r.orders) })
	data := []insertStep{
		{readmodel.TableOrders, len(r.orders), orders},
		{readmodel.TableOrdersByBrand, len(r.orders), func() []column { return byBrandColumns(orders()) }},
		{readmodel.TableUnattributed, len(r.unattributed), func() []column { return unattributedColumns(r.unattributed) }},
		{readmodel.TableBrands, len(r.brands), func() []column { return principalColumns("brand_id", r.brands) }},
		{readmodel.TableCreators, len(r.creators), func() []column { return principalColumns("creator_id", r.creators) }},
		{readmodel.TableOfferNames, len(r.offerNames), func() []column { return offerNameColumns(r.offerNames) }},
		{readmodel.TableCodeRequestEvents, len(r.requests), func() []column { return requestColumns(r.requests) }},
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, s := range data {
		if s.n == 0 {
			continue
		}
		wg.Go(func() {
			if err := p.run(ctx, s); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// insertPositions writes, after the rows of the flush, its day marks and
// then its watermarks, leaving out the partitions in skip (whose earlier
// flush failed), so that neither runs ahead of the rows it stands for.
func (p *Projector) insertPositions(ctx context.Context, r *rows, skip map[partitionKey]error) error {
	days, marks := r.days, r.marks
	if len(skip) > 0 {
		days = make(map[dayKey]int64, len(r.days))
		for k, v := range r.days {
			if _, ok := skip[k.partitionKey]; !ok {
				days[k] = v
			}
		}
		marks = make(map[partitionKey]mark, len(r.marks))
		for k, v := range r.marks {
			if _, ok := skip[k]; !ok {
				marks[k] = v
			}
		}
	}
	// The day marks after the orders rows they stand for, and before the
	// watermarks: a summary that waited for a watermark finds the marks of
	// every row below it, so it reads no stale roll-up (readmodel.DayState).
	if len(days) > 0 {
		if err := p.run(ctx, insertStep{readmodel.TableDayMarks, len(days), func() []column { return dayMarkColumns(days) }}); err != nil {
			return err
		}
	}
	if len(marks) == 0 {
		return nil
	}
	return p.run(ctx, insertStep{readmodel.TableWatermarks, len(marks), func() []column { return watermarkColumns(marks) }})
}

// insertStep is the insert of one table's rows.
type insertStep struct {
	table string
	n     int
	cols  func() []column
}

func (p *Projector) run(ctx context.Context, s insertStep) error {
	if err := p.send(ctx, s.table, s.cols()); err != nil {
		return fmt.Errorf("clickhouse projection: insert %d rows into %s: %w", s.n, s.table, err)
	}
	p.metrics.rows.WithLabelValues(s.table).Add(float64(s.n))
	return nil
}

// send inserts columns into table with one PrepareBatch. The explicit
// column list is required on 18.16; INSERT ... VALUES through Exec hangs
// there.
func (p *Projector) send(ctx context.Context, table string, cols []column) error {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	b, err := p.conn.PrepareBatch(ctx, "INSERT INTO "+p.db+"."+table+" ("+strings.Join(names, ", ")+")")
	if err != nil {
		return err
	}
	defer func() { _ = b.Close() }()
	for i, c := range cols {
		if err := b.Column(i).Append(c.values); err != nil {
			return fmt.Errorf("column %s: %w", c.name, err)
		}
	}
	return b.Send()
}

func orderColumns(m map[orderKey]orderRow) []column {
	n := len(m)
	var (
		creator, brand, order, offer, offerName, request   = mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
		code, platform, status, currency, country, earnCur = mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
		payType, payValue, payCur, cause, decision         = mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
		placed, lastEvent, updated                         = mk[time.Time](n), mk[time.Time](n), mk[time.Time](n)
		amount, net, earnings                              = mk[decimal.Decimal](n), mk[decimal.Decimal](n), mk[decimal.Decimal](n)
		hold                                               = mk[uint16](n)
		version                                            = mk[uint64](n)
	)
	for _, o := range m {
		creator, brand, order = append(creator, o.creatorID), append(brand, o.brandID), append(order, o.orderID)
		offer, offerName, request = append(offer, o.offerID), append(offerName, o.offerName), append(request, o.requestID)
		code, platform, status = append(code, o.promoCode), append(platform, o.platform), append(status, o.status)
		currency, country, earnCur = append(currency, o.currency), append(country, o.country), append(earnCur, o.earningsCurrency)
		payType, payValue, payCur = append(payType, o.payoutType), append(payValue, o.payoutValue), append(payCur, o.payoutCurrency)
		cause, decision = append(cause, o.cause), append(decision, o.decision)
		placed, lastEvent, updated = append(placed, o.placedAt), append(lastEvent, o.lastEventAt), append(updated, o.updatedAt)
		amount, net, earnings = append(amount, o.amount), append(net, o.netAmount), append(earnings, o.earnings)
		hold, version = append(hold, o.holdDays), append(version, o.version)
	}
	return []column{
		{"creator_id", creator}, {"placed_at", placed}, {"brand_id", brand}, {"order_id", order},
		{"offer_id", offer}, {"offer_name", offerName}, {"request_id", request}, {"promo_code", code},
		{"platform", platform}, {"status", status}, {"amount", amount}, {"net_amount", net},
		{"currency", currency}, {"country", country}, {"earnings", earnings}, {"earnings_currency", earnCur},
		{"payout_type", payType}, {"payout_value", payValue}, {"payout_currency", payCur}, {"hold_days", hold},
		{"cause", cause}, {"decision", decision}, {"last_event_at", lastEvent}, {"updated_at", updated},
		{"version", version},
	}
}

// byBrandColumns are the columns of orders_by_brand among the orders
// columns cols (the same values, shared).
func byBrandColumns(cols []column) []column {
	out := make([]column, 0, len(byBrandNames))
	for _, c := range cols {
		if byBrandNames[c.name] {
			out = append(out, c)
		}
	}
	return out
}

// byBrandNames are the columns of orders_by_brand (readmodel, migration 7).
var byBrandNames = map[string]bool{
	"brand_id": true, "placed_at": true, "creator_id": true, "order_id": true, "offer_id": true, "offer_name": true,
	"promo_code": true, "status": true, "amount": true, "currency": true, "country": true, "earnings": true,
	"earnings_currency": true, "updated_at": true, "version": true,
}

func unattributedColumns(m map[orderKey]unattributedRow) []column {
	n := len(m)
	var (
		brand, order, reason, decision, currency, country = mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
		placed, updated                                   = mk[time.Time](n), mk[time.Time](n)
		codes                                             = mk[[]string](n)
		amount                                            = mk[decimal.Decimal](n)
		version                                           = mk[uint64](n)
	)
	for _, u := range m {
		brand, order, reason, decision = append(brand, u.brandID), append(order, u.orderID), append(reason, u.reason), append(decision, u.decision)
		currency, country = append(currency, u.currency), append(country, u.country)
		placed, updated, codes = append(placed, u.placedAt), append(updated, u.updated), append(codes, u.promoCodes)
		amount, version = append(amount, u.amount), append(version, u.version)
	}
	return []column{
		{"brand_id", brand}, {"placed_at", placed}, {"order_id", order}, {"promo_codes", codes},
		{"reason", reason}, {"decision", decision}, {"amount", amount}, {"currency", currency},
		{"country", country}, {"updated_at", updated}, {"version", version},
	}
}

func principalColumns(idColumn string, m map[string]principalRow) []column {
	n := len(m)
	id, name, registered, version := mk[string](n), mk[string](n), mk[time.Time](n), mk[uint64](n)
	for _, b := range m {
		id, name, registered, version = append(id, b.id), append(name, b.name), append(registered, b.registered), append(version, b.version)
	}
	return []column{{idColumn, id}, {"name", name}, {"registered_at", registered}, {"version", version}}
}

func offerNameColumns(m map[offerKey]offerNameRow) []column {
	n := len(m)
	brand, offer, name, named, version := mk[string](n), mk[string](n), mk[string](n), mk[time.Time](n), mk[uint64](n)
	for _, o := range m {
		brand, offer, name = append(brand, o.brandID), append(offer, o.offerID), append(name, o.name)
		named, version = append(named, o.namedAt), append(version, o.version)
	}
	return []column{{"brand_id", brand}, {"offer_id", offer}, {"name", name}, {"named_at", named}, {"version", version}}
}

func requestColumns(m map[requestKey]requestEventRow) []column {
	n := len(m)
	var (
		brand, request, typ, offer, creator = mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
		platform, code, norm, reason        = mk[string](n), mk[string](n), mk[string](n), mk[string](n)
		occurred, recorded                  = mk[time.Time](n), mk[time.Time](n)
		version                             = mk[uint64](n)
	)
	for _, q := range m {
		brand, request, typ = append(brand, q.brandID), append(request, q.requestID), append(typ, q.typ)
		offer, creator, platform = append(offer, q.offerID), append(creator, q.creatorID), append(platform, q.platform)
		code, norm, reason = append(code, q.code), append(norm, q.normalizedCode), append(reason, q.reason)
		occurred, recorded, version = append(occurred, q.occurredAt), append(recorded, q.recordedAt), append(version, q.version)
	}
	return []column{
		{"brand_id", brand}, {"request_id", request}, {"type", typ}, {"offer_id", offer},
		{"creator_id", creator}, {"platform", platform}, {"code", code}, {"normalized_code", norm},
		{"reason", reason}, {"occurred_at", occurred}, {"recorded_at", recorded}, {"version", version},
	}
}

func watermarkColumns(m map[partitionKey]mark) []column {
	n := len(m)
	proj, topic, part, next, last, updated := mk[string](n), mk[string](n), mk[uint32](n), mk[uint64](n), mk[time.Time](n), mk[time.Time](n)
	now := time.Now().UTC()
	for k, w := range m {
		proj, topic, part = append(proj, Group), append(topic, k.topic), append(part, uint32(k.partition))
		lastRecorded := w.lastRecorded
		if lastRecorded.Before(minDateTime) || lastRecorded.After(maxDateTime) {
			lastRecorded = minDateTime // a batch of only undecodable records
		}
		next, last, updated = append(next, uint64(max(w.next, 0))), append(last, lastRecorded.UTC()), append(updated, now)
	}
	return []column{
		{"projection", proj}, {"topic", topic}, {"kafka_partition", part},
		{"next_offset", next}, {"last_recorded_at", last}, {"updated_at", updated},
	}
}

func dayMarkColumns(m map[dayKey]int64) []column {
	n := len(m)
	day, topic, part, next := mk[time.Time](n), mk[string](n), mk[uint32](n), mk[uint64](n)
	for k, o := range m {
		day, topic, part, next = append(day, k.day), append(topic, k.topic), append(part, uint32(k.partition)), append(next, uint64(max(o, 0)))
	}
	return []column{{"day", day}, {"topic", topic}, {"kafka_partition", part}, {"next_offset", next}}
}

func mk[T any](n int) []T { return make([]T, 0, n) }
