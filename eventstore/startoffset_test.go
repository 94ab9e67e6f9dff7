package eventstore

import (
	"context"
	"math"
	"testing"

	"github.com/segmentio/kafka-go"
)

type rewinder struct {
	HandlerFunc
	to     int64
	called *int
}

func (r rewinder) StartOffset(committed int64) int64 {
	*r.called++
	return r.to
}

func TestStartOffset(t *testing.T) {
	plain := HandlerFunc(func(context.Context, *Batch) error { return nil })
	for _, tc := range []struct {
		name       string
		rewindTo   int64 // math.MinInt64: a handler that is no StartOffsetter
		committed  int64
		want       int64
		wantCalled bool
	}{
		{"not a StartOffsetter", math.MinInt64, 100, 100, false},
		{"no committed offset: from the first", 40, kafka.FirstOffset, kafka.FirstOffset, false},
		{"rewinds", 40, 100, 40, true},
		{"rewinds to the first record", 0, 100, 0, true},
		{"the committed offset", 100, 100, 100, true},
		{"never skips what the group did not commit", 140, 100, 100, true},
		{"ignores a negative offset", kafka.LastOffset, 100, 100, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := 0
			var h PartitionHandler = plain
			if tc.rewindTo != math.MinInt64 {
				h = rewinder{HandlerFunc: plain, to: tc.rewindTo, called: &called}
			}
			if got := startOffset(h, tc.committed); got != tc.want {
				t.Errorf("startOffset = %d, want %d", got, tc.want)
			}
			if (called > 0) != tc.wantCalled {
				t.Errorf("StartOffset called %d times", called)
			}
		})
	}
}
