package attribution

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// roundTrip returns st restored from its snapshot, and fails the test if
// the restored state does not snapshot to the same bytes.
func roundTrip(t testing.TB, st *OrderState) OrderState {
	t.Helper()
	if st.brandID == "" {
		return *st // nothing applied yet: nothing a worker would store
	}
	b := AppendSnapshot(nil, st)
	var got OrderState
	if err := RestoreSnapshot(&got, st.brandID, st.orderID, b); err != nil {
		t.Fatalf("restore snapshot: %v\n%x", err, b)
	}
	if again := AppendSnapshot(nil, &got); !bytes.Equal(again, b) {
		t.Fatalf("the restored state snapshots differently:\n%x\n%x", b, again)
	}
	v, e, ok := SnapshotProgress(b)
	if !ok || v != st.Version() || e != st.EmittedVersion() {
		t.Fatalf("SnapshotProgress = %d %d %v, want %d %d", v, e, ok, st.Version(), st.EmittedVersion())
	}
	return got
}

// TestSnapshotsChangeNothing feeds each history, in shuffled orders and
// then every event again (duplicates, one with a new event id), once to
// a state kept in memory and once to a state replaced by its restored
// snapshot after every step: both emit the same rows, in the same order,
// and end with the same snapshot.
func TestSnapshotsChangeNothing(t *testing.T) {
	tests := []struct {
		name   string
		events []input
	}{
		{"refunds around an approval, a late cancellation", []input{
			placed("p", t0, "2500.00", "ANNA10"), refunded("r1", at(day), "500.00"), confirmed("ok", at(15*day)),
			refunded("r2", at(16*day), "300.00"), cancelled("c", at(17*day))}},
		{"hold expiry after a cancellation", []input{
			placed("p", t0, "2500.00", "ANNA10"), refunded("r1", at(day), "500.00"), cancelled("c", at(29*day)),
			holdExpired("h", "off-pct", 30)}},
		{"fixed payout, full refund", []input{
			placed("p", t0, "2500.00", "BOB", "ANNA10"), refunded("r1", at(day), "1000.00"), refunded("r2", at(2*day), "1500.00"),
			confirmed("ok", at(3*day))}},
		{"one instant, two events", []input{
			placed("p", t0, "2500.00", "ANNA10"), confirmed("ok", at(5*day)), cancelled("c", at(5*day)),
			withEventID(cancelled("c", at(5*day)), "ingest-retry")}},
		{"unattributed", []input{
			placed("p", t0, "2500.00", "SOON", "NOPE"), confirmed("ok", at(day)), refunded("r1", at(2*day), "10.00")}},
		{"no code", []input{placed("p", t0, "10.00"), confirmed("ok", at(day))}},
		{"three codes, odd refund", []input{
			placed("p", t0, "10000.00", "NOPE", "PAST", "ANNA10"), refunded("r1", at(day), "1000.00"), refunded("r2", at(day), "2000.00"),
			refunded("r3", at(3*day), "0.01"), confirmed("ok", at(4*day)), cancelled("c", at(5*day))}},
		{"placement re-sent with another shop id", []input{
			placed("p", t0, "999.99", "ANNA10"), placed("p-again", t0, "999.99", "ANNA10"), holdExpired("h", "off-pct", 30),
			refunded("r1", at(31*day), "999.99")}},
		{"events before the placement, nanoseconds", []input{
			refunded("r1", at(day+time.Nanosecond), "1.5"), confirmed("ok", at(2*day+7)), placed("p", at(3), "50.00", "АNNА10", "  anna10 ")}},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for run := range 50 {
				ins := append([]input(nil), tc.events...)
				if run > 0 {
					rng.Shuffle(len(ins), func(i, j int) { ins[i], ins[j] = ins[j], ins[i] })
				}
				ins = append(ins, ins...)
				ins = append(ins, withEventID(ins[0], "resent"))
				plain, snap := newWorker(), newWorker()
				snap.viaSnapshot = true
				plain.feed(t, false, ins...)
				snap.feed(t, false, ins...)
				if !reflect.DeepEqual(plain.emitted, snap.emitted) {
					t.Fatalf("run %d: rows differ\n in memory %+v\n snapshots %+v", run, plain.emitted, snap.emitted)
				}
				if len(plain.emitted) == 0 {
					t.Fatalf("run %d: nothing emitted", run)
				}
				a, b := AppendSnapshot(nil, &plain.st), AppendSnapshot(nil, &snap.st)
				if !bytes.Equal(a, b) {
					t.Fatalf("run %d: final snapshots differ\n%x\n%x", run, a, b)
				}
				h1, ok1 := HoldDue(&plain.st)
				h2, ok2 := HoldDue(&snap.st)
				if ok1 != ok2 || h1 != h2 {
					t.Fatalf("run %d: HoldDue %v %+v, restored %v %+v", run, ok1, h1, ok2, h2)
				}
			}
		})
	}
}

// TestSnapshotOfARebuild: a state rebuilt as `attrib rebuild redis` does
// (the last row first, then the events) snapshots to the bytes of the
// live one.
func TestSnapshotOfARebuild(t *testing.T) {
	w := newWorker()
	ins := []input{placed("p", t0, "2500.00", "NOPE", "ANNA10"), refunded("r1", at(day), "500.00"), confirmed("ok", at(15*day))}
	w.feed(t, false, ins...)
	var st OrderState
	if err := Emitted(&st, w.last().Event); err != nil {
		t.Fatal(err)
	}
	st = roundTrip(t, &st)
	for _, in := range ins {
		if _, err := Apply(&st, in.env, in.ev); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := AppendSnapshot(nil, &w.st), AppendSnapshot(nil, &st); !bytes.Equal(a, b) {
		t.Fatalf("live %x\nrebuilt %x", a, b)
	}
}

// TestSnapshotRefusesDamage: a snapshot cut short, or with a byte
// changed where it makes it inconsistent, is an error, never a state.
func TestSnapshotRefusesDamage(t *testing.T) {
	w := newWorker()
	w.feed(t, false, placed("p", t0, "2500.00", "NOPE", "ANNA10"), refunded("r1", at(day), "500.00"), confirmed("ok", at(15*day)))
	good := AppendSnapshot(nil, &w.st)
	for i := range len(good) {
		var st OrderState
		if err := RestoreSnapshot(&st, brand, order, good[:i]); err == nil {
			t.Errorf("a snapshot cut to %d of %d bytes was restored", i, len(good))
		}
	}
	var st OrderState
	if err := RestoreSnapshot(&st, brand, order, append(bytes.Clone(good), 0)); err == nil {
		t.Error("a snapshot with a trailing byte was restored")
	}
	bad := bytes.Clone(good)
	bad[2]++ // the version no longer counts the events
	if err := RestoreSnapshot(&st, brand, order, bad); err == nil {
		t.Error("a snapshot whose version is not its events' count was restored")
	}
	if err := RestoreSnapshot(&st, "", order, good); err == nil {
		t.Error("a snapshot restored without a brand")
	}
}

// TestSettled: an order is settled once decided with nothing pending.
func TestSettled(t *testing.T) {
	tests := []struct {
		name    string
		events  []input
		settled bool
		lastAt  time.Time
	}{
		{"placed, attributed, pending under hold", []input{placed("p", t0, "2500.00", "ANNA10")}, false, time.Time{}},
		{"confirmed", []input{placed("p", t0, "2500.00", "ANNA10"), confirmed("ok", at(3*day))}, true, at(3 * day)},
		{"refunded in full", []input{placed("p", t0, "2500.00", "ANNA10"), refunded("r", at(2*day), "2500.00")}, true, at(2 * day)},
		{"hold expired, refund after", []input{placed("p", t0, "2500.00", "ANNA10"), holdExpired("h", "off-pct", 30), refunded("r", at(40*day), "1.00")}, true, at(40 * day)},
		{"unattributed, never confirmed", []input{placed("p", t0, "2500.00", "NOPE")}, true, t0},
		{"events without the placement", []input{confirmed("ok", at(3*day))}, false, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorker()
			w.feed(t, false, tc.events...)
			last, ok := Settled(&w.st)
			if ok != tc.settled || !last.Equal(tc.lastAt) {
				t.Fatalf("Settled = %v %v, want %v %v", last, ok, tc.lastAt, tc.settled)
			}
		})
	}
}
