package catalog

import "time"

// CheckEffectiveTime decides whether a brand command may take effect at
// at, an explicit time in the past given by the operator (the demo seeder
// dates a catalog this way), instead of the moment its events are
// appended. now is the writer's clock. It refuses, with a
// *ValidationError for field "occurred_at":
//   - a zero at, and an at after now (nothing takes effect in the future);
//
// and, wrapping ErrConflict:
//   - an at before the brand's latest change (see Brand.LastChange): a
//     brand's effective times never go back, so a command cannot take
//     effect before the brand, its offer or its request existed, and the
//     log order and the time order of the brand agree as Evolve requires.
//
// A brand with no events accepts any past at: its registration is the
// first thing it has.
func CheckEffectiveTime(b *Brand, at, now time.Time) error {
	switch {
	case at.IsZero():
		return invalid("occurred_at", "is required")
	case at.After(now):
		return invalid("occurred_at", "%s is in the future (now %s)", at.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	}
	if b != nil && at.Before(b.clock) {
		return conflict("occurred_at %s is before the brand's latest change at %s: a brand's changes take effect in order",
			at.UTC().Format(time.RFC3339Nano), b.clock.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// LastChange is the effective time of the latest event that changed the
// brand (zero for a brand with no events); every later event takes effect
// at or after it.
func (b *Brand) LastChange() time.Time { return b.clock }
