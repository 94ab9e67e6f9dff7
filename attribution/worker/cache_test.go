package worker

import (
	"slices"
	"strconv"
	"testing"
)

// TestStateCache checks the bound and the recency of the state cache:
// taking removes, a state put or taken again survives the next turnover,
// and at most size states are kept.
func TestStateCache(t *testing.T) {
	type op struct {
		put, take string
	}
	cases := []struct {
		name string
		size int
		ops  []op
		want []string // keys cached at the end
	}{
		{name: "disabled", size: 0, ops: []op{{put: "a"}}, want: nil},
		{name: "take removes", size: 10, ops: []op{{put: "a"}, {put: "b"}, {take: "a"}}, want: []string{"b"}},
		{name: "take of a missing key", size: 10, ops: []op{{take: "a"}, {put: "b"}}, want: []string{"b"}},
		{name: "oldest half dropped", size: 4, ops: []op{{put: "a"}, {put: "b"}, {put: "c"}, {put: "d"}, {put: "e"}, {put: "f"}},
			want: []string{"c", "d", "e", "f"}},
		{name: "put again survives", size: 4, ops: []op{{put: "a"}, {put: "b"}, {put: "a"}, {put: "c"}, {put: "d"}, {put: "e"}},
			want: []string{"c", "d", "e"}},
		{name: "taken and put back survives", size: 4, ops: []op{{put: "a"}, {put: "b"}, {put: "c"}, {take: "a"}, {put: "a"}, {put: "d"}, {put: "e"}},
			want: []string{"a", "c", "d", "e"}},
		{name: "size one", size: 1, ops: []op{{put: "a"}, {put: "b"}}, want: []string{"a", "b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newStateCache(tc.size)
			for _, o := range tc.ops {
				if o.put != "" {
					c.put(o.put, &cachedState{hold: scheduled{hold: int64(o.put[0])}})
				}
				if o.take != "" {
					s, ok := c.take(o.take)
					if ok && s.hold.hold != int64(o.take[0]) {
						t.Fatalf("take %s: got the state of %c", o.take, rune(s.hold.hold))
					}
				}
			}
			var got []string
			for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
				if s, ok := c.take(k); ok {
					got = append(got, string(rune(s.hold.hold)))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("cached %v, want %v", got, tc.want)
			}
		})
	}
	c := newStateCache(100)
	for i := range 1000 {
		c.put(strconv.Itoa(i), &cachedState{})
		if c.len() > 100 {
			t.Fatalf("after %d puts: %d states cached, want at most 100", i+1, c.len())
		}
	}
}
