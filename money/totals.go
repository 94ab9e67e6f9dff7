package money

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Totals sums amounts per currency, for report totals: amounts in different
// currencies are never added together. Its JSON form is an object from
// currency to decimal string with sorted keys, {"RUB": "300.00", "USD":
// "15.00"}; an empty or nil Totals encodes as {}.
type Totals map[string]Amount

// Add adds a to the total of its currency, creating the map if needed.
func (t *Totals) Add(a Amount) {
	if *t == nil {
		*t = make(Totals)
	}
	cur, ok := (*t)[a.currency]
	if !ok {
		(*t)[a.currency] = a
		return
	}
	(*t)[a.currency] = Amount{value: cur.value.Add(a.value), currency: a.currency}
}

// Currencies returns the currencies of the totals, sorted.
func (t Totals) Currencies() []string {
	out := make([]string, 0, len(t))
	for c := range t {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// MarshalJSON encodes the totals as {"RUB": "300.00", ...}, keys sorted.
func (t Totals) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, c := range t.Currencies() {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(c)
		b.Write(k)
		b.WriteByte(':')
		v, _ := json.Marshal(t[c].String())
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads totals as MarshalJSON writes them; each value must
// parse with Parse in its currency.
func (t *Totals) UnmarshalJSON(data []byte) error {
	var raw map[string]string
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("totals: %w", err)
	}
	out := make(Totals, len(raw))
	for c, s := range raw {
		a, err := Parse(s, c)
		if err != nil {
			return fmt.Errorf("totals[%s]: %w", c, err)
		}
		out[c] = a
	}
	*t = out
	return nil
}
