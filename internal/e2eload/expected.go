package e2eload

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Totals are a creator's report totals: orders, orders per status, and
// earnings per currency in minor units.
type Totals struct {
	Orders   int64
	ByStatus map[string]int64
	Earnings map[string]int64
}

// Expected accumulates the outcomes of the generated orders: what every
// creator's report must total once all their events are in.
type Expected struct {
	Creators     []Totals
	Unattributed int64
	Orders       int64
}

// NewExpected is empty totals for n creators.
func NewExpected(n int) *Expected {
	e := &Expected{Creators: make([]Totals, n)}
	for i := range e.Creators {
		e.Creators[i] = Totals{ByStatus: map[string]int64{}, Earnings: map[string]int64{}}
	}
	return e
}

// Add counts one order's outcome.
func (e *Expected) Add(o Outcome) {
	e.Orders++
	if o.Creator < 0 {
		e.Unattributed++
		return
	}
	t := &e.Creators[o.Creator]
	t.Orders++
	t.ByStatus[o.Status]++
	if o.Earnings != 0 {
		t.Earnings[o.Currency] += o.Earnings
	}
}

// Diff lists how got differs from want, one line per difference; empty
// when they are equal. A currency with zero earnings equals a missing one.
func Diff(want, got Totals) []string {
	var out []string
	if want.Orders != got.Orders {
		out = append(out, fmt.Sprintf("orders: got %d, want %d", got.Orders, want.Orders))
	}
	for _, s := range []string{StatusPending, StatusApproved, StatusRejected} {
		if got.ByStatus != nil && want.ByStatus[s] != got.ByStatus[s] {
			out = append(out, fmt.Sprintf("%s orders: got %d, want %d", s, got.ByStatus[s], want.ByStatus[s]))
		}
	}
	curs := map[string]bool{}
	for c := range want.Earnings {
		curs[c] = true
	}
	for c := range got.Earnings {
		curs[c] = true
	}
	keys := make([]string, 0, len(curs))
	for c := range curs {
		keys = append(keys, c)
	}
	sort.Strings(keys)
	for _, c := range keys {
		if want.Earnings[c] != got.Earnings[c] {
			out = append(out, fmt.Sprintf("earnings %s: got %s, want %s", c, string(appendMinor(nil, got.Earnings[c])), string(appendMinor(nil, want.Earnings[c]))))
		}
	}
	return out
}

// ParseMinor reads a decimal amount with at most two fraction digits, as
// the API writes money in RUB, USD and EUR, into minor units.
func ParseMinor(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	t := strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(t, ".")
	if whole == "" || len(frac) > 2 {
		return 0, fmt.Errorf("amount %q: want digits with at most two decimals", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q: %w", s, err)
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("amount %q: bad decimals", s)
	}
	v := w*100 + f
	if neg {
		v = -v
	}
	return v, nil
}
