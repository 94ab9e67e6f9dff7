package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/csvexport"
	"github.com/attrib-engine/attrib/money"
	"github.com/attrib-engine/attrib/promocode"
	"github.com/attrib-engine/attrib/reports"
)

// ReportReader reads the reports' read model (package reports implements
// it over ClickHouse).
type ReportReader interface {
	Orders(ctx context.Context, f reports.OrderFilter) (reports.Page, error)
	Totals(ctx context.Context, f reports.OrderFilter) (reports.Totals, error)
	EachOrder(ctx context.Context, f reports.OrderFilter, fn func(reports.Order) error) error
	Unattributed(ctx context.Context, f reports.UnattributedFilter) (reports.UnattributedPage, error)
	Earnings(ctx context.Context, f reports.OrderFilter, groupBy, tz string) ([]reports.EarningsPoint, error)
	Summary(ctx context.Context, f reports.SummaryFilter) (reports.Summary, error)
	Explain(ctx context.Context, brandID, orderID string) (reports.Explanation, error)
}

// EarningsPoint is one group of GET /v1/reports/earnings.
type EarningsPoint struct {
	Key      string            `json:"key"`
	Name     string            `json:"name,omitempty"`
	Orders   uint64            `json:"orders"`
	Earnings map[string]string `json:"earnings"`
}

// ReportOrder is a row of GET /v1/reports/orders.
type ReportOrder struct {
	OrderID          string    `json:"order_id"`
	BrandID          string    `json:"brand_id"`
	Brand            string    `json:"brand"`
	OfferID          string    `json:"offer_id"`
	Offer            string    `json:"offer"`
	PromoCode        string    `json:"promo_code"`
	Status           string    `json:"status"`
	Amount           string    `json:"amount"`
	Currency         string    `json:"currency"`
	Country          string    `json:"country"`
	Earnings         string    `json:"earnings"`
	EarningsCurrency string    `json:"earnings_currency"`
	PlacedAt         time.Time `json:"placed_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	// CreatorID and Creator (the name) are in brands' and analysts'
	// reports, not in a creator's own.
	CreatorID *string `json:"creator_id,omitempty"`
	Creator   *string `json:"creator,omitempty"`
}

// ReportTotals sums all orders matching a report's filters.
type ReportTotals struct {
	Orders   uint64            `json:"orders"`
	Earnings map[string]string `json:"earnings"`
}

// UnattributedOrder is a row of GET /v1/analytics/unattributed.
type UnattributedOrder struct {
	BrandID    string    `json:"brand_id"`
	OrderID    string    `json:"order_id"`
	PromoCodes []string  `json:"promo_codes"`
	Reason     string    `json:"reason"`
	PlacedAt   time.Time `json:"placed_at"`
}

// moneyString formats d with the minor digits of currency.
func moneyString(d decimal.Decimal, currency string) string {
	return d.StringFixed(int32(money.MinorUnits(currency)))
}

// reportOrderView renders o for c: with its creator for brands and
// analysts.
func reportOrderView(o reports.Order, c Caller) ReportOrder {
	v := ReportOrder{
		OrderID: o.OrderID, BrandID: o.BrandID, Brand: o.Brand, OfferID: o.OfferID, Offer: o.Offer,
		PromoCode: o.PromoCode, Status: o.Status, Amount: moneyString(o.Amount, o.Currency), Currency: o.Currency,
		Country: o.Country, Earnings: moneyString(o.Earnings, o.EarningsCurrency), EarningsCurrency: o.EarningsCurrency,
		PlacedAt: o.PlacedAt, UpdatedAt: o.UpdatedAt,
	}
	if c.Role != RoleCreator {
		v.CreatorID, v.Creator = &o.CreatorID, &o.Creator
	}
	return v
}

func (s *Server) reportsUnavailable() error {
	return unavailable("reports are not served by this process")
}

func reportReadError(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return unavailable("reports cannot be read now (%v); retry later", err)
}

// parseTime reads an optional RFC 3339 query parameter.
func parseTime(q url.Values, field string) (time.Time, error) {
	v := strings.TrimSpace(q.Get(field))
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, badField(field, "%s: want an RFC 3339 time such as 2026-11-01T00:00:00Z", field)
	}
	return t.UTC(), nil
}

// parseRange reads from and to.
func parseRange(q url.Values) (from, to time.Time, err error) {
	if from, err = parseTime(q, "from"); err != nil {
		return
	}
	if to, err = parseTime(q, "to"); err != nil {
		return
	}
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		err = badField("to", "to: must be after from")
	}
	return
}

// parseLimit reads limit: 1..reports.MaxLimit, reports.DefaultLimit when
// absent.
func parseLimit(q url.Values) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return reports.DefaultLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > reports.MaxLimit {
		return 0, badField("limit", "limit: want a whole number from 1 to %d", reports.MaxLimit)
	}
	return n, nil
}

// orderFilter reads the filters shared by the order report and its CSV,
// scoped to the caller: a creator sees only their own orders, a brand only
// its own (brand= naming another brand then matches nothing).
func orderFilter(q url.Values, c Caller) (reports.OrderFilter, error) {
	var f reports.OrderFilter
	switch c.Role {
	case RoleCreator:
		if _, ok := q["creator"]; ok {
			return f, &apiError{status: http.StatusForbidden, code: "forbidden", field: "creator",
				message: "creator: only analysts may filter by creator"}
		}
		f.CreatorID = c.ID
	case RoleAnalyst:
		f.CreatorID = strings.TrimSpace(q.Get("creator"))
	case RoleBrand:
		f.BrandID = c.ID
		f.CreatorID = strings.TrimSpace(q.Get("creator"))
	default:
		return f, errForbidden
	}
	f.Offer = strings.TrimSpace(q.Get("offer"))
	f.Status = q.Get("status")
	switch f.Status {
	case "", reports.StatusPending, reports.StatusApproved, reports.StatusRejected:
	default:
		return f, badField("status", "status: want %s, %s or %s", reports.StatusPending, reports.StatusApproved, reports.StatusRejected)
	}
	f.Country = strings.ToUpper(strings.TrimSpace(q.Get("country")))
	f.OrderID = strings.TrimSpace(q.Get("order_id"))
	f.PromoCode = promocode.Normalize(q.Get("promo_code"))
	f.Brand = strings.TrimSpace(q.Get("brand"))
	var err error
	if f.From, f.To, err = parseRange(q); err != nil {
		return f, err
	}
	f.Sort = q.Get("sort")
	switch f.Sort {
	case "":
		f.Sort = reports.SortDateDesc
	case reports.SortDateDesc, reports.SortDateAsc:
	default:
		return f, badField("sort", "sort: want %s or %s", reports.SortDateDesc, reports.SortDateAsc)
	}
	return f, nil
}

// reportOrders: GET /v1/reports/orders.
func (s *Server) reportOrders(w http.ResponseWriter, r *http.Request, c Caller) error {
	if s.cfg.Reports == nil {
		return s.reportsUnavailable()
	}
	q := r.URL.Query()
	f, err := orderFilter(q, c)
	if err != nil {
		return err
	}
	if f.Limit, err = parseLimit(q); err != nil {
		return err
	}
	if v := q.Get("cursor"); v != "" {
		cur, err := reports.DecodeCursor(v, f.Sort)
		if err != nil {
			return badField("cursor", "cursor: not a cursor of this listing and sort; start again without it")
		}
		f.After = &cur
	}
	// The page and the totals are read at once, on two connections: the
	// response waits for the slower, not for their sum.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	type totalsResult struct {
		totals reports.Totals
		err    error
	}
	tc := make(chan totalsResult, 1)
	go func() {
		t, err := s.cfg.Reports.Totals(ctx, f)
		tc <- totalsResult{t, err}
	}()
	page, err := s.cfg.Reports.Orders(ctx, f)
	if err != nil {
		return reportReadError(err)
	}
	tr := <-tc
	if tr.err != nil {
		return reportReadError(tr.err)
	}
	totals := tr.totals
	out := struct {
		Orders     []ReportOrder `json:"orders"`
		NextCursor *string       `json:"next_cursor"`
		Totals     ReportTotals  `json:"totals"`
	}{Orders: make([]ReportOrder, 0, len(page.Orders)), Totals: ReportTotals{Orders: totals.Orders, Earnings: map[string]string{}}}
	for _, o := range page.Orders {
		out.Orders = append(out.Orders, reportOrderView(o, c))
	}
	if page.Next != nil {
		next := page.Next.Encode()
		out.NextCursor = &next
	}
	for cur, sum := range totals.Earnings {
		out.Totals.Earnings[cur] = moneyString(sum, cur)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// csvHeader is the header row of GET /v1/reports/orders.csv; brands and
// analysts get csvCreatorColumns after it.
var csvHeader = []string{"order_id", "brand_id", "brand", "offer_id", "offer", "promo_code", "status", "amount",
	"currency", "country", "earnings", "earnings_currency", "placed_at", "updated_at"}

// csvCreatorColumns end the CSV rows of brands and analysts.
var csvCreatorColumns = []string{"creator_id", "creator"}

// csvFlushRows is how many rows the CSV stream writes between flushes.
const csvFlushRows = 500

// reportOrdersCSV: GET /v1/reports/orders.csv, every matching row, streamed.
func (s *Server) reportOrdersCSV(w http.ResponseWriter, r *http.Request, c Caller) error {
	if s.cfg.Reports == nil {
		return s.reportsUnavailable()
	}
	q := r.URL.Query()
	for _, p := range []string{"limit", "cursor"} {
		if _, ok := q[p]; ok {
			return badField(p, "%s: the CSV report has every matching row; it takes no %s", p, p)
		}
	}
	f, err := orderFilter(q, c)
	if err != nil {
		return err
	}
	flusher, _ := w.(http.Flusher)
	// Every cell is neutralised for spreadsheets (csvexport.Cell): offer
	// names, codes, countries and order ids come from brands and shops.
	// The stream outlasts the server's write timeout, pushed on by each
	// write for as long as the client reads.
	cw := csvexport.NewWriter(StreamWriter(w, r))
	started := false
	start := func() error {
		started = true
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="orders.csv"`)
		w.WriteHeader(http.StatusOK)
		if c.Role == RoleCreator {
			return cw.Write(csvHeader)
		}
		return cw.Write(append(slices.Clip(csvHeader), csvCreatorColumns...))
	}
	n := 0
	err = s.cfg.Reports.EachOrder(r.Context(), f, func(o reports.Order) error {
		if !started {
			if err := start(); err != nil {
				return err
			}
		}
		v := reportOrderView(o, c)
		row := []string{v.OrderID, v.BrandID, v.Brand, v.OfferID, v.Offer, v.PromoCode, v.Status, v.Amount,
			v.Currency, v.Country, v.Earnings, v.EarningsCurrency, v.PlacedAt.Format(time.RFC3339), v.UpdatedAt.Format(time.RFC3339)}
		if c.Role != RoleCreator {
			row = append(row, o.CreatorID, o.Creator)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
		n++
		if n%csvFlushRows == 0 {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		return nil
	})
	if err != nil {
		if !started {
			return reportReadError(err)
		}
		// The status is sent: all that is left is to cut the stream short,
		// so that the client sees an incomplete body, not a complete one.
		s.log.Error("orders.csv stream failed", "rows", n, "err", err)
		panic(http.ErrAbortHandler)
	}
	if !started {
		if err := start(); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// unattributed: GET /v1/analytics/unattributed (analysts).
func (s *Server) unattributed(w http.ResponseWriter, r *http.Request, _ Caller) error {
	if s.cfg.Reports == nil {
		return s.reportsUnavailable()
	}
	q := r.URL.Query()
	var f reports.UnattributedFilter
	var err error
	if f.From, f.To, err = parseRange(q); err != nil {
		return err
	}
	if f.Limit, err = parseLimit(q); err != nil {
		return err
	}
	if v := q.Get("cursor"); v != "" {
		cur, err := reports.DecodeCursor(v, reports.SortDateDesc)
		if err != nil {
			return badField("cursor", "cursor: not a cursor of this listing; start again without it")
		}
		f.After = &cur
	}
	page, err := s.cfg.Reports.Unattributed(r.Context(), f)
	if err != nil {
		return reportReadError(err)
	}
	out := struct {
		Orders     []UnattributedOrder `json:"orders"`
		NextCursor *string             `json:"next_cursor"`
	}{Orders: make([]UnattributedOrder, 0, len(page.Orders))}
	for _, u := range page.Orders {
		out.Orders = append(out.Orders, UnattributedOrder{BrandID: u.BrandID, OrderID: u.OrderID, PromoCodes: u.PromoCodes,
			Reason: u.Reason, PlacedAt: u.PlacedAt})
	}
	if page.Next != nil {
		next := page.Next.Encode()
		out.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// reportEarnings: GET /v1/reports/earnings, the orders matching the report
// filters grouped by day (in tz), offer, brand, status or creator.
func (s *Server) reportEarnings(w http.ResponseWriter, r *http.Request, c Caller) error {
	if s.cfg.Reports == nil {
		return s.reportsUnavailable()
	}
	q := r.URL.Query()
	f, err := orderFilter(q, c)
	if err != nil {
		return err
	}
	groupBy := q.Get("group_by")
	if groupBy == "" {
		groupBy = reports.GroupByDay
	}
	if !reports.ValidGroupBy(groupBy) {
		return badField("group_by", "group_by: want %s, %s, %s, %s or %s", reports.GroupByDay, reports.GroupByOffer, reports.GroupByBrand,
			reports.GroupByStatus, reports.GroupByCreator)
	}
	tz := strings.TrimSpace(q.Get("tz"))
	if tz == "" {
		tz = "UTC"
	}
	if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
		return badField("tz", "tz: want an IANA time zone such as Europe/Moscow")
	}
	points, err := s.cfg.Reports.Earnings(r.Context(), f, groupBy, tz)
	if err != nil {
		return reportReadError(err)
	}
	out := struct {
		GroupBy string          `json:"group_by"`
		TZ      string          `json:"tz"`
		Series  []EarningsPoint `json:"series"`
	}{GroupBy: groupBy, TZ: tz, Series: make([]EarningsPoint, 0, len(points))}
	for _, p := range points {
		e := map[string]string{}
		for cur, sum := range p.Earnings {
			e[cur] = moneyString(sum, cur)
		}
		out.Series = append(out.Series, EarningsPoint{Key: p.Key, Name: p.Name, Orders: p.Orders, Earnings: e})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// FreshnessWaiter waits until the report tables hold every event appended
// before since, within its own bound, and returns the time up to which
// they do and whether that reached since (chproj.Freshness).
type FreshnessWaiter interface {
	Wait(ctx context.Context, since time.Time) (time.Time, bool)
}

// HeaderFreshAsOf names the response header of reports that says up to
// when every event appended to the log is in them (RFC 3339).
const HeaderFreshAsOf = "X-Attrib-Fresh-As-Of"

// fresh makes a report handler wait for the tables to catch up with the log
// as of the request's arrival (real time, whatever the API's clock), so
// that a write answered before the request is in the report. When they
// do not catch up within the waiter's bound, the report is served anyway,
// and its header says how fresh it is.
func (s *Server) fresh(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, c Caller) error {
		if s.cfg.Freshness != nil && s.cfg.Reports != nil {
			asOf, _ := s.cfg.Freshness.Wait(r.Context(), time.Now())
			if !asOf.IsZero() {
				w.Header().Set(HeaderFreshAsOf, asOf.UTC().Format(time.RFC3339Nano))
			}
		}
		return h(w, r, c)
	}
}

// OrderExplanation is the answer of GET /v1/analytics/orders/{brand_id}/{order_id}.
type OrderExplanation struct {
	BrandID          string          `json:"brand_id"`
	OrderID          string          `json:"order_id"`
	Attributed       bool            `json:"attributed"`
	Reason           string          `json:"reason,omitempty"`
	CreatorID        string          `json:"creator_id,omitempty"`
	OfferID          string          `json:"offer_id,omitempty"`
	Offer            string          `json:"offer,omitempty"`
	RequestID        string          `json:"request_id,omitempty"`
	PromoCode        string          `json:"promo_code,omitempty"`
	Platform         string          `json:"platform,omitempty"`
	Status           string          `json:"status,omitempty"`
	Amount           string          `json:"amount"`
	NetAmount        string          `json:"net_amount"`
	Currency         string          `json:"currency"`
	Country          string          `json:"country"`
	Earnings         *string         `json:"earnings,omitempty"`
	EarningsCurrency string          `json:"earnings_currency,omitempty"`
	Terms            *ExplainedTerms `json:"terms,omitempty"`
	Cause            string          `json:"cause,omitempty"`
	Decision         json.RawMessage `json:"decision"`
	PlacedAt         time.Time       `json:"placed_at"`
	LastEventAt      *time.Time      `json:"last_event_at,omitempty"`
	UpdatedAt        time.Time       `json:"updated_at"`
	Version          uint64          `json:"version"`
}

// ExplainedTerms are the offer terms that applied to an order.
type ExplainedTerms struct {
	Payout   payoutBody `json:"payout"`
	HoldDays int        `json:"hold_days"`
}

// explainOrder: GET /v1/analytics/orders/{brand_id}/{order_id} (analysts):
// which code won, which were passed over and why, which terms applied.
func (s *Server) explainOrder(w http.ResponseWriter, r *http.Request, _ Caller) error {
	if s.cfg.Reports == nil {
		return s.reportsUnavailable()
	}
	brandID, orderID := r.PathValue("brand_id"), r.PathValue("order_id")
	e, err := s.cfg.Reports.Explain(r.Context(), brandID, orderID)
	if errors.Is(err, reports.ErrNoSuchOrder) {
		return notFound("no order %q of brand %q", orderID, brandID)
	}
	if err != nil {
		return reportReadError(err)
	}
	out := OrderExplanation{
		BrandID: e.BrandID, OrderID: e.OrderID, Attributed: e.Attributed, Reason: e.Reason,
		Amount: moneyString(e.Amount, e.Currency), NetAmount: moneyString(e.NetAmount, e.Currency),
		Currency: e.Currency, Country: e.Country, Decision: e.Decision,
		PlacedAt: e.PlacedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(), Version: e.Version,
	}
	if e.Attributed {
		earnings := moneyString(e.Earnings, e.EarningsCurrency)
		last := e.LastEventAt.UTC()
		out.CreatorID, out.OfferID, out.Offer, out.RequestID = e.CreatorID, e.OfferID, e.OfferName, e.RequestID
		out.PromoCode, out.Platform, out.Status, out.Cause = e.PromoCode, e.Platform, e.Status, e.Cause
		out.Earnings, out.EarningsCurrency, out.LastEventAt = &earnings, e.EarningsCurrency, &last
		out.Terms = &ExplainedTerms{Payout: payoutBody{Type: e.PayoutType, Value: e.PayoutValue, Currency: e.PayoutCurrency}, HoldDays: int(e.HoldDays)}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
