package worker

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// rec is a record for TestParseState: an event at an offset, or a row of
// a version ('r').
type rec struct {
	kind byte
	n    uint64
	data string
}

func encodeRecs(recs []rec) []byte {
	var b []byte
	for _, r := range recs {
		b = append(b, r.kind)
		b = binary.AppendUvarint(b, r.n)
		b = binary.BigEndian.AppendUint32(b, uint32(len(r.data)))
		b = append(b, r.data...)
	}
	return b
}

func TestParseState(t *testing.T) {
	e := func(offset uint64, data string) rec { return rec{recEvent, offset, data} }
	r := func(version uint64, data string) rec { return rec{recRow, version, data} }
	for _, tc := range []struct {
		name    string
		recs    []rec
		events  string // offset=data, in the order read back
		row     string
		version uint64
	}{
		{"empty", nil, "", "", 0},
		{"one batch", []rec{e(3, "placed"), r(1, "row1")}, "3=placed", "row1", 1},
		{"batches", []rec{e(3, "placed"), r(1, "row1"), e(9, "confirmed"), r(2, "row2")}, "3=placed 9=confirmed", "row2", 2},
		{"a retried batch appends its row again", []rec{e(3, "placed"), r(1, "row1"), r(1, "row1")}, "3=placed", "row1", 1},
		{"the same version twice: the last", []rec{r(1, "first"), r(1, "again")}, "", "again", 1},
		{"a lower version appended late is ignored", []rec{e(3, "placed"), r(1, "row1"), e(9, "confirmed"), r(2, "row2"), r(1, "stale")}, "3=placed 9=confirmed", "row2", 2},
		{"events twice and out of order", []rec{e(9, "confirmed"), e(3, "placed"), e(9, "confirmed"), e(12, "refunded")}, "3=placed 9=confirmed 12=refunded", "", 0},
		{"a rebuild: the row first", []rec{r(2, "row2"), e(3, "placed"), e(9, "confirmed")}, "3=placed 9=confirmed", "row2", 2},
		{"offset zero", []rec{e(0, "placed")}, "0=placed", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, row, version, err := parseState(encodeRecs(tc.recs))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range events {
				got = append(got, fmt.Sprintf("%d=%s", ev.offset, ev.data))
			}
			if g := strings.Join(got, " "); g != tc.events {
				t.Errorf("events %q, want %q", g, tc.events)
			}
			if string(row) != tc.row || version != tc.version {
				t.Errorf("row %q version %d, want %q version %d", row, version, tc.row, tc.version)
			}
		})
	}
}

func TestParseStateRefusesDamage(t *testing.T) {
	first := encodeRecs([]rec{{recEvent, 3, "placed"}})
	good := append(slices.Clone(first), encodeRecs([]rec{{recRow, 1, "row1"}})...)
	for i := 1; i < len(good); i++ {
		if i == len(first) {
			continue // a whole record: APPEND never writes less
		}
		if _, _, _, err := parseState(good[:i]); err == nil {
			t.Errorf("a state cut to %d of %d bytes was read without error", i, len(good))
		}
	}
	for _, b := range [][]byte{[]byte("x"), append(slices.Clone(good), 'R', 1, 0, 0, 0, 0)} {
		if _, _, _, err := parseState(b); err == nil || !strings.Contains(err.Error(), "unknown record kind") {
			t.Errorf("parseState(%q) = %v, want an unknown record kind", b, err)
		}
	}
}
