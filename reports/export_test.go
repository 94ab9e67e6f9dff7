package reports

import "time"

// SetNow sets the clock the creator's pages are sliced from.
func SetNow(r *Reports, now func() time.Time) { r.now = now }
