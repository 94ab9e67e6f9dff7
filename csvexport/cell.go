package csvexport

// Cell returns s as it is safe to put in a spreadsheet's cell: a text that
// a spreadsheet would read as a formula (it starts with "=", "+", "-", "@",
// a tab or a carriage return) gets a leading single quote, as OWASP
// recommends, so that it is shown as text and never evaluated. A number
// ("-12.50", "+7") is left as it is, so that amounts stay machine-readable;
// so is every other text (ids, dates in RFC 3339, currency codes).
func Cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '@', '\t', '\r':
	case '+', '-':
		if isNumber(s) {
			return s
		}
	default:
		return s
	}
	return "'" + s
}

// isNumber reports whether s is a plain decimal number: an optional sign,
// digits, and optionally a point and more digits. Nothing else (no
// exponent, no spaces, no thousands separators) is a number here, so that
// no formula can pass for one.
func isNumber(s string) bool {
	if s[0] == '+' || s[0] == '-' {
		s = s[1:]
	}
	digits, point := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point && digits > 0 && i < len(s)-1:
			point = true
		default:
			return false
		}
	}
	return digits > 0
}
