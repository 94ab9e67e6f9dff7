package api

import (
	"net/http"

	"github.com/attrib-engine/attrib/reports"
)

// SummaryGroup is one group (or the totals) of GET /v1/analytics/summary.
type SummaryGroup struct {
	Key    string `json:"key,omitempty"`
	Name   string `json:"name,omitempty"`
	Orders uint64 `json:"orders"`
	// GMV and Earnings are per currency, with the currency's minor digits.
	GMV      map[string]string `json:"gmv"`
	Earnings map[string]string `json:"earnings"`
	// ApprovalRate is approved / (approved + rejected), 4 digits.
	ApprovalRate string `json:"approval_rate"`
	// AttributionRate is orders / (orders + unattributed orders), 4 digits;
	// null for groupings unattributed orders have no value of (offer,
	// creator, platform).
	AttributionRate *string `json:"attribution_rate"`
}

func summaryGroupView(g reports.SummaryGroup, attribution bool) SummaryGroup {
	v := SummaryGroup{Key: g.Key, Name: g.Name, Orders: g.Orders, GMV: map[string]string{}, Earnings: map[string]string{},
		ApprovalRate: g.ApprovalRate().StringFixed(4)}
	for cur, sum := range g.GMV {
		v.GMV[cur] = moneyString(sum, cur)
	}
	for cur, sum := range g.Earnings {
		v.Earnings[cur] = moneyString(sum, cur)
	}
	if attribution {
		a := g.AttributionRate().StringFixed(4)
		v.AttributionRate = &a
	}
	return v
}

// analyticsSummary: GET /v1/analytics/summary (analysts), the orders placed
// in [from, to) grouped by brand (default), offer, creator, country,
// platform or UTC day.
func (s *Server) analyticsSummary(w http.ResponseWriter, r *http.Request, _ Caller) error {
	if s.cfg.Reports == nil {
		return s.reportsUnavailable()
	}
	q := r.URL.Query()
	var f reports.SummaryFilter
	var err error
	if f.From, f.To, err = parseRange(q); err != nil {
		return err
	}
	f.GroupBy = q.Get("group_by")
	if f.GroupBy == "" {
		f.GroupBy = reports.GroupByBrand
	}
	if !reports.ValidSummaryGroupBy(f.GroupBy) {
		return badField("group_by", "group_by: want %s, %s, %s, %s, %s or %s", reports.GroupByBrand, reports.GroupByOffer,
			reports.GroupByCreator, reports.GroupByCountry, reports.GroupByPlatform, reports.GroupByDay)
	}
	sum, err := s.cfg.Reports.Summary(r.Context(), f)
	if err != nil {
		return reportReadError(err)
	}
	out := struct {
		GroupBy string         `json:"group_by"`
		Groups  []SummaryGroup `json:"groups"`
		Totals  SummaryGroup   `json:"totals"`
	}{GroupBy: f.GroupBy, Groups: make([]SummaryGroup, 0, len(sum.Groups)), Totals: summaryGroupView(sum.Totals, true)}
	for _, g := range sum.Groups {
		out.Groups = append(out.Groups, summaryGroupView(g, sum.AttributionKnown))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
