package worker

import (
	"slices"
	"testing"

	"github.com/attrib-engine/attrib/attribution"
	"github.com/attrib-engine/attrib/eventstore"
)

func TestCodeCacheValidity(t *testing.T) {
	const n = 4
	// Two brands on different catalog partitions.
	brandA, brandB := "brand-a", ""
	pa := eventstore.PartitionOf(brandA, n)
	for i := 0; brandB == ""; i++ {
		if b := "brand-" + string(rune('b'+i)); eventstore.PartitionOf(b, n) != pa {
			brandB = b
		}
	}
	pb := eventstore.PartitionOf(brandB, n)
	ka := attribution.CodeKey{BrandID: brandA, Normalized: "A1"}
	kb := attribution.CodeKey{BrandID: brandB, Normalized: "B1"}
	unknown := attribution.CodeKey{BrandID: brandA, Normalized: "NONE"}
	recA := []attribution.CodeRecord{{BrandID: brandA, Code: "A1", CreatorID: "c", RequestID: "r"}}
	ends := func(a, b int64) []int64 {
		e := make([]int64, n)
		e[pa], e[pb] = a, b
		return e
	}
	wm := func(a, b int64) map[int]Watermark {
		return map[int]Watermark{pa: {Offset: a}, pb: {Offset: b}}
	}
	keys := []attribution.CodeKey{ka, kb, unknown}
	got := attribution.CodeMap{ka: recA}

	tests := []struct {
		name     string
		putWM    map[int]Watermark
		putEnds  []int64
		getEnds  []int64
		wantHits attribution.CodeMap
		wantMiss []attribution.CodeKey
	}{
		{name: "index current, same ends: all answered, unknown code too",
			putWM: wm(10, 20), putEnds: ends(10, 20), getEnds: ends(10, 20),
			wantHits: attribution.CodeMap{ka: recA}},
		{name: "index ahead of the ends read",
			putWM: wm(12, 25), putEnds: ends(10, 20), getEnds: ends(10, 20),
			wantHits: attribution.CodeMap{ka: recA}},
		{name: "one partition moved",
			putWM: wm(10, 20), putEnds: ends(10, 20), getEnds: ends(11, 20),
			wantHits: attribution.CodeMap{}, wantMiss: []attribution.CodeKey{ka, unknown}},
		{name: "index behind the end of one partition: not kept",
			putWM: wm(10, 19), putEnds: ends(10, 20), getEnds: ends(10, 20),
			wantHits: attribution.CodeMap{ka: recA}, wantMiss: []attribution.CodeKey{kb}},
		{name: "no ends known",
			putWM: wm(10, 20), putEnds: ends(10, 20), getEnds: nil,
			wantHits: attribution.CodeMap{}, wantMiss: keys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCodeCache(100)
			c.put(keys, got, tc.putWM, tc.putEnds, n)
			hits, answered, miss := c.get(keys, tc.getEnds, n)
			if len(hits) != len(tc.wantHits) || (tc.wantHits[ka] != nil && len(hits[ka]) != 1) {
				t.Errorf("hits = %v, want %v", hits, tc.wantHits)
			}
			if !slices.Equal(miss, tc.wantMiss) {
				t.Errorf("missing = %v, want %v", miss, tc.wantMiss)
			}
			if len(answered)+len(miss) != len(keys) {
				t.Errorf("answered %v and missing %v, want every key in one of them", answered, miss)
			}
		})
	}

	t.Run("stale", func(t *testing.T) {
		c := newCodeCache(100)
		if got := c.stale(keys, ends(10, 20), ends(10, 21), n); !slices.Equal(got, []attribution.CodeKey{kb}) {
			t.Errorf("stale = %v, want [%v]", got, kb)
		}
		if got := c.stale(keys, ends(10, 20), ends(10, 20), n); len(got) != 0 {
			t.Errorf("stale = %v with unchanged ends, want none", got)
		}
	})

	t.Run("a partition's new end drops its old answers", func(t *testing.T) {
		c := newCodeCache(100)
		c.put(keys, got, wm(10, 20), ends(10, 20), n)
		c.put([]attribution.CodeKey{kb}, got, wm(10, 21), ends(10, 21), n)
		if hits, _, miss := c.get(keys, ends(10, 21), n); len(hits) != 1 || len(miss) != 0 {
			t.Errorf("after the new end: hits %v, missing %v; want A1 and answers for all", hits, miss)
		}
		if _, _, miss := c.get(keys, ends(10, 20), n); !slices.Equal(miss, []attribution.CodeKey{kb}) {
			t.Errorf("at the old end: missing %v, want [%v]", miss, kb)
		}
		if c.size != 3 {
			t.Errorf("size %d, want 3", c.size)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		c := newCodeCache(2)
		c.put(keys, got, wm(10, 20), ends(10, 20), n)
		if c.size > 2 {
			t.Errorf("size %d, want at most 2", c.size)
		}
		if _, _, miss := c.get(keys, ends(10, 20), n); len(miss) == 0 {
			t.Error("a cache bounded to 2 keys answered 3")
		}
	})
}
