package worker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/attrib-engine/attrib/schemas"
)

// The former forms of an order's state, which the worker reads and
// replaces with a snapshot (load.go) when it touches the order.
//
// The string form: a run of records, each batch having appended (APPEND)
// the events it applied to the order and the row it emitted. Two kinds of
// record:
//
//	'e', uvarint offset, uint32 length (big endian), encodeEvent's output    an applied event
//	'r', uvarint version, uint32 length (big endian), encodeRow's output     an emitted row
//
// Reading it back (parseState), the events are taken in log order with
// each offset once, and the row of the highest version (the last of
// them) is the order's last row: a retried batch could append its row
// twice, and a writer of a former group generation a row of a lower
// version.
//
// Before the string form the state was a hash (e:<offset> fields and a
// row field, see fEvent and fRow), read by legacyState.
const (
	recEvent = 'e'
	recRow   = 'r'
)

// storedEvent is one event record of a stored state.
type storedEvent struct {
	offset int64
	data   []byte // encodeEvent's output
}

// appendEventRecord appends the record of an event applied at offset.
func appendEventRecord(dst []byte, offset int64, env *schemas.Envelope) []byte {
	dst = append(dst, recEvent)
	dst = binary.AppendUvarint(dst, uint64(offset))
	at := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = appendEvent(dst, env)
	binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
	return dst
}

// appendRowRecord appends the record of an emitted row.
func appendRowRecord(dst []byte, ev schemas.Event) ([]byte, error) {
	n := len(dst)
	dst = append(dst, recRow)
	dst = binary.AppendUvarint(dst, rowVersion(ev))
	at := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst, err := appendRow(dst, ev)
	if err != nil {
		return dst[:n], err
	}
	binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
	return dst, nil
}

// appendStoredRowRecord appends the record of a row of the given version,
// as encodeRow stored it.
func appendStoredRowRecord(dst []byte, version uint64, row []byte) []byte {
	dst = append(dst, recRow)
	dst = binary.AppendUvarint(dst, version)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(row)))
	return append(dst, row...)
}

// parseState splits a stored state into its events, in log order with
// each offset once, and its last row (nil if none) with that row's
// version. The records share b's memory.
func parseState(b []byte) (events []storedEvent, row []byte, version uint64, err error) {
	last := int64(-1)
	sorted := true
	for len(b) > 0 {
		kind := b[0]
		if kind != recEvent && kind != recRow {
			return nil, nil, 0, fmt.Errorf("stored state: unknown record kind %q", kind)
		}
		v, n := binary.Uvarint(b[1:])
		if n <= 0 {
			return nil, nil, 0, errors.New("stored state: truncated record")
		}
		b = b[1+n:]
		if len(b) < 4 {
			return nil, nil, 0, errors.New("stored state: truncated record length")
		}
		size := int(binary.BigEndian.Uint32(b))
		b = b[4:]
		if size > len(b) {
			return nil, nil, 0, errors.New("stored state: truncated record")
		}
		data := b[:size:size]
		b = b[size:]
		if kind == recRow {
			if row == nil || v >= version {
				row, version = data, v
			}
			continue
		}
		offset := int64(v)
		if offset <= last {
			sorted = false
		}
		last = max(last, offset)
		events = append(events, storedEvent{offset: offset, data: data})
	}
	if !sorted {
		// Appended out of log order (a rebuild, or a writer of a former
		// group generation): sort, and keep one record per offset.
		slices.SortStableFunc(events, func(a, b storedEvent) int { return cmpInt64(a.offset, b.offset) })
		events = slices.CompactFunc(events, func(a, b storedEvent) bool { return a.offset == b.offset })
	}
	return events, row, version, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// legacyState converts the fields of a state stored as a hash (the former
// form) into the records of the string form, with its events in log order.
func legacyState(key string, fields map[string]string) ([]byte, error) {
	names := make([]string, 0, len(fields))
	for f := range fields {
		if strings.HasPrefix(f, fEvent) {
			names = append(names, f)
		}
	}
	slices.Sort(names) // e:<20-digit offset>: log order
	var b []byte
	for _, f := range names {
		var offset int64
		if _, err := fmt.Sscanf(f[len(fEvent):], "%d", &offset); err != nil || offset < 0 {
			return nil, fmt.Errorf("order state %s: field %s: not an offset", key, f)
		}
		data := fields[f]
		b = append(b, recEvent)
		b = binary.AppendUvarint(b, uint64(offset))
		b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
		b = append(b, data...)
	}
	if row, ok := fields[fRow]; ok {
		ev, err := decodeRow([]byte(row))
		if err != nil {
			return nil, fmt.Errorf("order state %s: last row: %w", key, err)
		}
		b = appendStoredRowRecord(b, rowVersion(ev), []byte(row))
	}
	return b, nil
}

// rowVersion returns the version of an attribution row (value or pointer);
// 0 for anything else.
func rowVersion(ev schemas.Event) uint64 {
	switch p := schemas.ValueOf(ev).(type) {
	case schemas.OrderAttributed:
		return p.Version
	case schemas.OrderEarningsAdjusted:
		return p.Version
	case schemas.OrderUnattributed:
		return p.Version
	}
	return 0
}
