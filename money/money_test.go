package money

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/shopspring/decimal"
)

func TestMinorUnits(t *testing.T) {
	tests := []struct {
		currency string
		want     int
	}{
		{"RUB", 2}, {"USD", 2}, {"EUR", 2}, {"KZT", 2},
		{"JPY", 0}, {"KRW", 0}, {"VND", 0}, {"CLP", 0}, {"ISK", 0},
		{"BHD", 3}, {"KWD", 3}, {"OMR", 3}, {"JOD", 3}, {"TND", 3},
		{"XYZ", 2}, {"", 2},
	}
	for _, tc := range tests {
		if got := MinorUnits(tc.currency); got != tc.want {
			t.Errorf("MinorUnits(%q) = %d, want %d", tc.currency, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		currency string
		want     string // String() of the result; "" means an error is expected
	}{
		{"two digits", "2500.00", "RUB", "2500.00"},
		{"one digit", "2500.5", "RUB", "2500.50"},
		{"integer", "2500", "RUB", "2500.00"},
		{"zero", "0", "RUB", "0.00"},
		{"small", "0.01", "USD", "0.01"},
		{"leading zeros", "007.10", "RUB", "7.10"},
		{"fifteen integer digits", "999999999999999.99", "RUB", "999999999999999.99"},
		{"yen integer", "1500", "JPY", "1500"},
		{"dinar three digits", "1.250", "KWD", "1.250"},
		{"dinar one digit", "1.2", "BHD", "1.200"},

		{"empty", "", "RUB", ""},
		{"exponent", "1e5", "RUB", ""},
		{"capital exponent", "1E5", "RUB", ""},
		{"plus sign", "+1", "RUB", ""},
		{"minus sign", "-1", "RUB", ""},
		{"leading space", " 1", "RUB", ""},
		{"trailing space", "1 ", "RUB", ""},
		{"comma", "1,50", "RUB", ""},
		{"thousands separator", "1,000.00", "RUB", ""},
		{"NaN", "NaN", "RUB", ""},
		{"Inf", "Inf", "RUB", ""},
		{"hex", "0x10", "RUB", ""},
		{"point only", ".", "RUB", ""},
		{"no integer part", ".5", "RUB", ""},
		{"no fraction after point", "1.", "RUB", ""},
		{"two points", "1.2.3", "RUB", ""},
		{"underscore", "1_000", "RUB", ""},
		{"arabic-indic digit", "١", "RUB", ""},
		{"full-width digit", "１", "RUB", ""},
		{"three digits for RUB", "1.005", "RUB", ""},
		{"trailing zero past minor unit", "1.000", "RUB", ""},
		{"fraction for yen", "1500.5", "JPY", ""},
		{"zero fraction for yen", "1500.0", "JPY", ""},
		{"four digits for dinar", "1.2500", "KWD", ""},
		{"sixteen integer digits", "1000000000000000", "RUB", ""},
		{"bad currency lower case", "1.00", "rub", ""},
		{"bad currency empty", "1.00", "", ""},
		{"bad currency long", "1.00", "RUBL", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in, tc.currency)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("Parse(%q, %q) = %s, want an error", tc.in, tc.currency, got)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Parse(%q, %q) error %v does not wrap ErrInvalid", tc.in, tc.currency, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tc.in, tc.currency, err)
			}
			if got.String() != tc.want || got.Currency() != tc.currency {
				t.Fatalf("Parse(%q, %q) = %s %s, want %s %s", tc.in, tc.currency, got, got.Currency(), tc.want, tc.currency)
			}
		})
	}
}

func TestParseErrorNamesTheProblem(t *testing.T) {
	_, err := Parse("1.005", "RUB")
	if err == nil || err.Error() != `invalid amount: "1.005" has more than 2 digits after the point for RUB` {
		t.Fatalf("got %v", err)
	}
}

func TestRound(t *testing.T) {
	tests := []struct {
		name     string
		exact    string
		currency string
		want     string
	}{
		{"half rounds up", "0.005", "RUB", "0.01"},
		{"below half rounds down", "0.0049999", "RUB", "0.00"},
		{"above half rounds up", "0.0050001", "RUB", "0.01"},
		{"exact stays", "12.34", "RUB", "12.34"},
		{"half of odd cent up (not banker's)", "0.015", "RUB", "0.02"},
		{"half of even cent up (not banker's)", "0.025", "RUB", "0.03"},
		{"negative half away from zero", "-0.005", "RUB", "-0.01"},
		{"carry into integer", "9.995", "RUB", "10.00"},
		{"yen half", "75.5", "JPY", "76"},
		{"yen below half", "75.075", "JPY", "75"},
		{"dinar half", "0.0005", "KWD", "0.001"},
		{"integer widened", "5", "RUB", "5.00"},
		{"long fraction", "33.333333333333333333", "RUB", "33.33"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Round(decimal.RequireFromString(tc.exact), tc.currency)
			if got.String() != tc.want {
				t.Fatalf("Round(%s, %s) = %s, want %s", tc.exact, tc.currency, got, tc.want)
			}
		})
	}
}

func TestPercentOf(t *testing.T) {
	tests := []struct {
		name     string
		amount   string
		currency string
		percent  string
		want     string
	}{
		{"ten percent of 2500", "2500.00", "RUB", "10", "250.00"},
		{"ten percent of five kopecks rounds half up", "0.05", "RUB", "10", "0.01"},
		{"ten percent of four kopecks rounds down", "0.04", "RUB", "10", "0.00"},
		{"fractional percent", "1999.99", "RUB", "7.5", "150.00"}, // 149.99925
		{"fractional percent half", "0.10", "USD", "5", "0.01"},   // 0.005
		{"yen", "1001", "JPY", "7.5", "75"},                       // 75.075
		{"yen half", "1010", "JPY", "5", "51"},                    // 50.5
		{"dinar", "1.001", "KWD", "12.5", "0.125"},                // 0.125125
		{"zero percent", "2500.00", "RUB", "0", "0.00"},
		{"hundred percent", "2500.00", "RUB", "100", "2500.00"},
		{"four-digit percent", "10000.00", "RUB", "0.0001", "0.01"},
		{"one third", "100.00", "RUB", "33.3333", "33.33"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePercent(tc.percent)
			if err != nil {
				t.Fatal(err)
			}
			got := PercentOf(MustParse(tc.amount, tc.currency), p)
			if got.String() != tc.want || got.Currency() != tc.currency {
				t.Fatalf("%s%% of %s %s = %s %s, want %s", tc.percent, tc.amount, tc.currency, got, got.Currency(), tc.want)
			}
		})
	}
}

func TestParsePercent(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"10", true}, {"7.5", true}, {"0", true}, {"100", true}, {"0.0001", true}, {"100.0000", true},
		{"100.01", false}, {"101", false}, {"0.00001", false}, {"-1", false}, {"1e1", false},
		{"", false}, {"10%", false}, {" 10", false},
	}
	for _, tc := range tests {
		_, err := ParsePercent(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParsePercent(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func TestAmountArithmeticAndString(t *testing.T) {
	a := MustParse("2500.00", "RUB")
	r1 := MustParse("500.50", "RUB")
	net, err := a.Sub(r1)
	if err != nil || net.String() != "1999.50" {
		t.Fatalf("2500.00 - 500.50 = %v, %v", net, err)
	}
	sum, err := net.Add(r1)
	if err != nil || !sum.Equal(a) {
		t.Fatalf("sum = %v, %v, want %v", sum, err, a)
	}
	if _, err := a.Add(MustParse("1.00", "USD")); err == nil {
		t.Fatal("adding USD to RUB: want an error")
	}
	if _, err := a.Sub(MustParse("1", "JPY")); err == nil {
		t.Fatal("subtracting JPY from RUB: want an error")
	}
	neg, _ := r1.Sub(a)
	if neg.Sign() != -1 || neg.String() != "-1999.50" {
		t.Fatalf("negative = %s", neg)
	}
	// String never rounds: an exact value with more digits than the minor
	// unit keeps them, trailing zeros past the minor unit are dropped.
	for _, tc := range []struct{ in, cur, want string }{
		{"2489.995", "RUB", "2489.995"},
		{"2489.9950", "RUB", "2489.995"},
		{"2489.9900", "RUB", "2489.99"},
		{"7", "RUB", "7.00"},
		{"7.50", "JPY", "7.5"},
		{"7.00", "JPY", "7"},
		{"0", "KWD", "0.000"},
	} {
		if got := FromDecimal(decimal.RequireFromString(tc.in), tc.cur).String(); got != tc.want {
			t.Errorf("FromDecimal(%s, %s).String() = %s, want %s", tc.in, tc.cur, got, tc.want)
		}
	}
	if Zero("RUB").String() != "0.00" || !Zero("RUB").IsZero() {
		t.Fatal("Zero(RUB)")
	}
	b, _ := json.Marshal(MustParse("15", "USD"))
	if string(b) != `"15.00"` {
		t.Fatalf("JSON = %s", b)
	}
}

func TestTotals(t *testing.T) {
	var tot Totals
	b, _ := json.Marshal(tot)
	if string(b) != "{}" {
		t.Fatalf("nil totals JSON = %s, want {}", b)
	}
	for _, a := range []Amount{
		MustParse("100.00", "RUB"), MustParse("15", "USD"), MustParse("200.00", "RUB"),
		MustParse("1000", "JPY"), MustParse("0.005", "KWD"),
	} {
		tot.Add(a)
	}
	b, err := json.Marshal(tot)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"JPY":"1000","KWD":"0.005","RUB":"300.00","USD":"15.00"}`
	if string(b) != want {
		t.Fatalf("totals JSON = %s, want %s", b, want)
	}
	// Inside a struct, by value, too.
	b, _ = json.Marshal(struct {
		Earnings Totals `json:"earnings"`
	}{tot})
	if string(b) != `{"earnings":`+want+`}` {
		t.Fatalf("nested totals JSON = %s", b)
	}
	var back Totals
	if err := json.Unmarshal([]byte(want), &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != 4 || !back["RUB"].Equal(MustParse("300", "RUB")) {
		t.Fatalf("round trip = %v", back)
	}
	if err := json.Unmarshal([]byte(`{"RUB":"1e3"}`), &back); err == nil {
		t.Fatal("unmarshal of 1e3: want an error")
	}
}

// TestFixedInt64 checks String's fast path against shopspring's
// StringFixed on values around its limits: every sign, fraction length
// and size, and the places of each kind of currency.
func TestFixedInt64(t *testing.T) {
	coefficients := []int64{0, 1, 5, 9, 10, 99, 100, 12345, 100000, 999999999999999999, 100000000000000000, 123456789012345678}
	fast := 0
	for _, c := range coefficients {
		for _, sign := range []int64{1, -1} {
			for exp := int32(-20); exp <= 2; exp++ {
				d := decimal.New(sign*c, exp)
				for _, places := range []int32{0, 2, 3, 4, 18, 19} {
					want := d.StringFixed(places)
					got, ok := fixedInt64(d, places)
					if !ok {
						continue
					}
					fast++
					if got != want {
						t.Errorf("fixedInt64(%s, %d) = %q, want %q", d, places, got, want)
					}
				}
			}
		}
	}
	if fast < 100 {
		t.Errorf("the fast path took only %d cases", fast)
	}
	for _, tc := range []struct {
		s, currency, want string
	}{
		{"2500", "RUB", "2500.00"},
		{"2500.5", "RUB", "2500.50"},
		{"0", "USD", "0.00"},
		{"1500", "JPY", "1500"},
		{"1.234", "BHD", "1.234"},
		{"999999999999999.99", "RUB", "999999999999999.99"},
	} {
		if got := MustParse(tc.s, tc.currency).String(); got != tc.want {
			t.Errorf("%s %s: String() = %q, want %q", tc.s, tc.currency, got, tc.want)
		}
	}
}

// TestPercentOf64 checks the integer path of PercentOf against the decimal
// one it stands in for, over amounts and percents of every shape, and that
// it takes the common ones.
func TestPercentOf64(t *testing.T) {
	amounts := []string{"0", "0.01", "0.05", "0.1", "1", "2.5", "99.99", "1001", "1999.99", "2500.00", "123456.78",
		"999999999999.99", "99999999999999.99", "999999999999999.99", "999999999999999", "0.001", "1.005", "7.125"}
	percents := []string{"0", "0.0001", "0.5", "1", "5", "7.5", "10", "12.5", "33.3333", "49.9999", "50", "99.9999", "100"}
	fast := 0
	for _, currency := range []string{"RUB", "JPY", "KWD"} {
		for _, as := range amounts {
			a, err := ParseDecimal(as, 3)
			if err != nil {
				t.Fatal(err)
			}
			if -a.Exponent() > int32(MinorUnits(currency)) && MinorUnits(currency) < 3 {
				continue // not an amount of the currency
			}
			amount := FromDecimal(a, currency)
			for _, ps := range percents {
				p, err := ParsePercent(ps)
				if err != nil {
					t.Fatal(err)
				}
				want := Round(amount.value.Mul(p.value).Shift(-2), currency)
				got, ok := percentOf64(amount, p)
				if !ok {
					continue
				}
				fast++
				if !got.Equal(want) || got.String() != want.String() || got.Currency() != currency {
					t.Errorf("%s%% of %s %s = %s, want %s", ps, as, currency, got, want)
				}
			}
		}
	}
	if fast < 300 {
		t.Errorf("the integer path took only %d cases", fast)
	}
	// Exact net amounts have more digits than the currency (a refund of
	// 0.001 RUB), and the product may not fit: the decimal path answers.
	for _, tc := range []struct{ amount, percent string }{{"2499.995", "7.5"}, {"99999999999999.99", "99.9999"}} {
		a, _ := ParseDecimal(tc.amount, 3)
		p, _ := ParsePercent(tc.percent)
		want := Round(a.Mul(p.value).Shift(-2), "RUB")
		if got := PercentOf(FromDecimal(a, "RUB"), p); !got.Equal(want) {
			t.Errorf("%s%% of %s RUB = %s, want %s", tc.percent, tc.amount, got, want)
		}
	}
}

// TestParseDecimalMatchesDecimal checks that ParseDecimal's integer path
// gives the value decimal.NewFromString would: the same coefficient and
// exponent, so that String and JSON show the same digits.
func TestParseDecimalMatchesDecimal(t *testing.T) {
	for _, s := range []string{"0", "00", "0.0", "1", "10", "0100", "2500.00", "2500.5", "0.001", "999999999999999.999",
		"999999999999999", "123456789012345.6789", "1.000", "000000000000000.001"} {
		got, err := ParseDecimal(s, 4)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		want := decimal.RequireFromString(s)
		if got.Exponent() != want.Exponent() || got.Coefficient().Cmp(want.Coefficient()) != 0 || got.String() != want.String() {
			t.Errorf("ParseDecimal(%q) = %s (exp %d), want %s (exp %d)", s, got, got.Exponent(), want, want.Exponent())
		}
	}
}
