package chload

import "github.com/shopspring/decimal"

// Stats sums what a load inserted, from the latest version of each order,
// in Go: what the reports must show, to the kopeck.
type Stats struct {
	// Orders counts the attributed orders (rows of orders after FINAL);
	// OrderRows the rows inserted into orders, older versions and
	// redeliveries included.
	Orders, OrderRows int
	// Unattributed counts the unattributed orders, also per reason.
	Unattributed         int
	UnattributedByReason map[string]int
	ByStatus             map[string]int
	ByCreator            map[string]int
	ByBrand              map[string]int
	// ByCurrency is per order currency: orders and GMV (amounts).
	ByCurrency map[string]*Sum
	// ByEarningsCurrency is per earnings currency: orders and earnings.
	ByEarningsCurrency map[string]*Sum
	// CreatorEarnings is per creator, per earnings currency.
	CreatorEarnings map[string]map[string]*Sum
}

// Sum is a count of orders and a sum of money in thousandths.
type Sum struct {
	Orders      int
	Thousandths int64
}

// Decimal returns the sum as the reports return it.
func (s Sum) Decimal() decimal.Decimal { return dec(s.Thousandths) }

func newStats() *Stats {
	return &Stats{
		UnattributedByReason: map[string]int{}, ByStatus: map[string]int{}, ByCreator: map[string]int{}, ByBrand: map[string]int{},
		ByCurrency: map[string]*Sum{}, ByEarningsCurrency: map[string]*Sum{}, CreatorEarnings: map[string]map[string]*Sum{},
	}
}

func addSum(m map[string]*Sum, k string, v int64) {
	s, ok := m[k]
	if !ok {
		s = &Sum{}
		m[k] = s
	}
	s.Orders++
	s.Thousandths += v
}

func (s *Stats) add(ch Chunk) {
	s.OrderRows += len(ch.Earlier) + len(ch.Final)
	for i := range ch.Final {
		o := &ch.Final[i]
		s.Orders++
		s.ByStatus[o.Status]++
		s.ByCreator[o.CreatorID]++
		s.ByBrand[o.BrandID]++
		addSum(s.ByCurrency, o.Currency, o.Amount)
		addSum(s.ByEarningsCurrency, o.EarningsCurrency, o.Earnings)
		ce, ok := s.CreatorEarnings[o.CreatorID]
		if !ok {
			ce = map[string]*Sum{}
			s.CreatorEarnings[o.CreatorID] = ce
		}
		addSum(ce, o.EarningsCurrency, o.Earnings)
	}
	for _, u := range ch.Unattributed {
		s.Unattributed++
		s.UnattributedByReason[u.Reason]++
	}
}
