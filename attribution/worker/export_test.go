package worker

import (
	"context"
	"fmt"
	"math"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/attribution"

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

// ToFormerSchedules rewrites the schedules of partitions 0 to n-1 in
// their former form, sorted sets (holds:<partition>, member the hold
// expiry's payload; evict:<partition>, member <brand>:<order>; scored by
// the due time), as a worker of before the buckets left them.
func (w *Worker) ToFormerSchedules(ctx context.Context, n int) error {
	for p := range n {
		for _, kind := range []schedKind{schedHolds, schedEvict} {
			buckets, err := w.dueBuckets(ctx, kind, p, math.MaxInt64)
			if err != nil {
				return err
			}
			for _, bk := range buckets {
				key := w.bucketKey(kind, p, bk)
				entries, err := w.rdb.LRange(ctx, key, 0, -1).Result()
				if err != nil {
					return err
				}
				for _, e := range entries {
					var num uint64
					var orderID string
					if kind == schedHolds {
						num, orderID, _, err = parseHoldEntry(bk, e)
					} else {
						num, orderID, err = parseRef([]byte(e))
					}
					if err != nil {
						return err
					}
					brands, err := w.brandIDs(ctx, []uint64{num})
					if err != nil {
						return err
					}
					val, err := w.rdb.Get(ctx, w.orderKey(brands[num], orderID)).Bytes()
					if err != nil {
						return err
					}
					var st attribution.OrderState
					if err := attribution.RestoreSnapshot(&st, brands[num], orderID, val); err != nil {
						return err
					}
					s := w.schedOf(&st)
					if kind == schedHolds {
						h, _ := attribution.HoldDue(&st)
						m, merr := schemas.MarshalPayload(h)
						if merr != nil {
							return merr
						}
						err = w.rdb.ZAdd(ctx, w.holdsKey(p), redis.Z{Score: float64(s.hold), Member: string(m)}).Err()
					} else {
						err = w.rdb.ZAdd(ctx, w.evictKey(p), redis.Z{Score: float64(s.evict), Member: evictMember(brands[num], orderID)}).Err()
					}
					if err != nil {
						return err
					}
				}
				if err := w.rdb.Del(ctx, key).Err(); err != nil {
					return err
				}
			}
			if err := w.rdb.Del(ctx, w.indexKey(kind, p)).Err(); err != nil {
				return err
			}
		}
	}
	return nil
}
