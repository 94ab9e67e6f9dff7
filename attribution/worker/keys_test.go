package worker

import (
	"fmt"
	"math"
	"testing"
)

func TestEventField(t *testing.T) {
	for _, offset := range []int64{0, 1, 9, 10, 12345, 99999999999, 1<<53 + 1, math.MaxInt64, -1, math.MinInt64} {
		if got, want := eventField(offset), fmt.Sprintf("%s%020d", fEvent, offset); got != want {
			t.Errorf("eventField(%d) = %q, want %q", offset, got, want)
		}
	}
}
