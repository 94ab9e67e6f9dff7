package worker

// StoredState splits a stored order state, as the worker reads it back:
// its events (offset and stored form) in log order, each offset once, and
// its last row (nil if none).
func StoredState(b []byte) (offsets []int64, events [][]byte, row []byte, err error) {
	evs, row, _, err := parseState(b)
	for _, e := range evs {
		offsets = append(offsets, e.offset)
		events = append(events, e.data)
	}
	return offsets, events, row, err
}
