package worker

import (
	"fmt"

	"github.com/attrib-engine/attrib/schemas"
)

// StoredState splits a stored order state of the former string form, as
// the worker reads it back: its events (offset and stored form) in log
// order, each offset once, and its last row (nil if none).
func StoredState(b []byte) (offsets []int64, events [][]byte, row []byte, err error) {
	evs, row, _, err := parseState(b)
	for _, e := range evs {
		offsets = append(offsets, e.offset)
		events = append(events, e.data)
	}
	return offsets, events, row, err
}

// FormerString is an order's state in the string form of before
// snapshots: a record per event (at its offset), then its last row.
func FormerString(offsets []int64, events []schemas.Envelope, row schemas.Event) ([]byte, error) {
	var b []byte
	for i := range events {
		b = appendEventRecord(b, offsets[i], &events[i])
	}
	return appendRowRecord(b, row)
}

// FormerHash is an order's state in the hash form of before the string
// form: its fields and values.
func FormerHash(offsets []int64, events []schemas.Envelope, row schemas.Event) ([]any, error) {
	r, err := encodeRow(row)
	if err != nil {
		return nil, err
	}
	fields := []any{fRow, r}
	for i := range events {
		fields = append(fields, eventField(offsets[i]), encodeEvent(&events[i]))
	}
	if len(events) != len(offsets) {
		return nil, fmt.Errorf("%d events, %d offsets", len(events), len(offsets))
	}
	return fields, nil
}

// ScheduleEntry decodes an entry of a schedule bucket: its brand's number,
// its order id and, in a hold bucket (hold), the second of the hour its
// hold ends in (-1 otherwise).
func ScheduleEntry(entry string, hold bool) (brandNum uint64, orderID string, sec int64, err error) {
	if hold {
		num, id, from, err := parseHoldEntry(0, entry)
		return num, id, from / 1000, err
	}
	num, id, err := parseRef([]byte(entry))
	return num, id, -1, err
}
