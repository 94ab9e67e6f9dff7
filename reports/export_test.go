package reports

import "time"

// SetNow sets the clock the creator's pages are sliced from.
func SetNow(r *Reports, now func() time.Time) { r.now = now }

// MarkBusy makes the creator's totals summed in slices, and read from
// creator_daily for the days rolled up.
func MarkBusy(r *Reports, creator string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sizes[creator] = max(busyOrders, rollupOrders)
}
