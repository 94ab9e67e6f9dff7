package readmodel

import (
	"testing"
	"time"
)

func TestRestAfter(t *testing.T) {
	for _, c := range []struct {
		name        string
		every, took time.Duration
		want        time.Duration
	}{
		{"a quick refresh waits out the interval", 15 * time.Second, 100 * time.Millisecond, 14900 * time.Millisecond},
		{"a refresh of a fifth of the interval: the same either way", 15 * time.Second, 3 * time.Second, 12 * time.Second},
		{"a longer one rests four times its length", 15 * time.Second, 5 * time.Second, 20 * time.Second},
		{"one longer than the interval too", 15 * time.Second, 20 * time.Second, 80 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := restAfter(c.every, c.took); got != c.want {
				t.Errorf("restAfter(%v, %v) = %v, want %v", c.every, c.took, got, c.want)
			}
		})
	}
}
