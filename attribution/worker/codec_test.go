package worker

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/schemas"
)

// nonZero fails if any field of v (recursively, through structs, pointers
// and the first element of slices) is the zero value: the samples below
// must set every field, so that a field added to a row type later fails
// the round trip until the codec stores it.
func nonZero(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			if v.Interface().(time.Time).IsZero() {
				t.Errorf("sample field %s is zero", path)
			}
			return
		}
		for i := range v.NumField() {
			nonZero(t, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
	case reflect.Pointer:
		if v.IsNil() {
			t.Errorf("sample field %s is nil", path)
			return
		}
		nonZero(t, path, v.Elem())
	case reflect.Slice:
		if v.Len() == 0 {
			t.Errorf("sample field %s is empty", path)
			return
		}
		nonZero(t, path+"[0]", v.Index(0))
	default:
		if v.IsZero() {
			t.Errorf("sample field %s is zero", path)
		}
	}
}

func TestRowCodec(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 0, 0, 123456789, time.UTC)
	later := at.Add(time.Hour)
	msk := at.In(time.FixedZone("MSK", 3*3600))
	cands := []schemas.Candidate{
		{Code: " anna10", NormalizedCode: "ANNA10", Outcome: schemas.OutcomeWon, CreatorID: "c1", OfferID: "o1", RequestID: "r1", ActiveFrom: &at, RevokedAt: &later},
		{Code: "x", NormalizedCode: "X", Outcome: schemas.OutcomeUnknownCode},
	}
	attr := schemas.Attribution{
		OrderID: "ord/1:{x}", BrandID: "b1", CreatorID: "c1", OfferID: "o1", OfferName: "Offer", RequestID: "r1", PromoCode: "ANNA10",
		Platform: "vk", Terms: schemas.Terms{Payout: schemas.Payout{Type: schemas.PayoutPercent, Value: "7.5", Currency: "RUB"}, HoldDays: 30},
		Amount: "1000.00", NetAmount: "900.00", Currency: "RUB", Country: "RU", Status: schemas.StatusApproved,
		Earnings: "67.50", EarningsCurrency: "RUB", PlacedAt: at, Version: 7, Decision: schemas.Decision{Candidates: cands}, LastEventAt: msk,
	}
	unattr := schemas.OrderUnattributed{OrderID: "o", BrandID: "b", PromoCodes: []string{"a", ""}, Reason: schemas.OutcomeCodeRevoked,
		Decision: schemas.Decision{Candidates: cands}, Amount: "1.00", Currency: "RUB", Country: "ZZ", PlacedAt: at, Version: 2}
	rows := []schemas.Event{
		&schemas.OrderAttributed{Attribution: attr},
		&schemas.OrderEarningsAdjusted{Attribution: attr, Cause: schemas.TypeOrderRefunded},
		&unattr,
	}
	for _, ev := range rows {
		nonZero(t, ev.EventType(), reflect.ValueOf(ev))
	}
	empty := unattr
	empty.PromoCodes, empty.Decision.Candidates = []string{}, []schemas.Candidate{}
	rows = append(rows, &empty, &schemas.OrderUnattributed{})
	for _, ev := range rows {
		b, err := encodeRow(ev)
		if err != nil {
			t.Fatalf("encode %T: %v", ev, err)
		}
		got, err := decodeRow(b)
		if err != nil {
			t.Fatalf("decode %T: %v", ev, err)
		}
		// Times: the same instant and zone offset (time.Time's binary
		// form); compare them by their JSON, as rows are written.
		if mustEncodeJSON(t, got) != mustEncodeJSON(t, ev) || reflect.TypeOf(got) != reflect.TypeOf(ev) {
			t.Errorf("row round trip:\n got %+v\nwant %+v", got, ev)
		}
		if v, ok := ev.(*schemas.OrderAttributed); ok {
			if b2, _ := encodeRow(*v); string(b2) != string(b) {
				t.Error("a row value and a pointer to it encode differently")
			}
		}
		if _, err := decodeRow(b[:len(b)-1]); err == nil {
			t.Errorf("decoding a truncated %T succeeded", ev)
		}
	}
	if _, err := encodeRow(schemas.OrderPlaced{}); err == nil {
		t.Error("encoding an order.placed as a row succeeded")
	}
}

func TestEventCodec(t *testing.T) {
	placed := schemas.OrderPlaced{OrderID: "o1", BrandID: "b1", ShopEventID: "s1", PromoCodes: []string{"A"}, Amount: "1.00", Currency: "RUB", Country: "RU"}
	env, err := schemas.NewEnvelopeFor(placed, time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	env = env.WithCause("cause", "corr")
	nonZero(t, "envelope", reflect.ValueOf(env))
	got, err := decodeEvent(encodeEvent(&env))
	if err != nil {
		t.Fatal(err)
	}
	if !sameExported(got, env) {
		t.Errorf("event round trip:\n got %+v\nwant %+v", got, env)
	}
	if _, err := decodeEvent([]byte("{}")); err == nil {
		t.Error("decoding JSON as a stored event succeeded")
	}
}

func mustEncodeJSON(t *testing.T, ev schemas.Event) string {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameExported reports whether two structs' exported fields are deeply
// equal (an envelope's unexported fields only mark its own payload).
func sameExported(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Type() != vb.Type() {
		return false
	}
	for i := range va.NumField() {
		if va.Type().Field(i).IsExported() && !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			return false
		}
	}
	return true
}

// TestTimeCodec checks that a time is stored as its MarshalBinary form
// after its length, as the stored states have always had it, and reads
// back as the same instant and zone offset.
func TestTimeCodec(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 0, 0, 123456789, time.UTC)
	for _, tm := range []time.Time{
		{}, at, at.In(time.FixedZone("MSK", 3*3600)), at.In(time.FixedZone("LMT", 2*3600+30*60+17)), at.In(time.FixedZone("W", -9*3600-30*60)),
	} {
		want, err := tm.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		e := encoder{b: []byte("prefix")}
		e.time(tm)
		if got := string(e.b); got != "prefix"+string(rune(len(want)))+string(want) {
			t.Errorf("%v: encoded %q, want the length %d and %q", tm, got, len(want), want)
		}
		d := decoder{b: e.b[len("prefix"):]}
		back := d.time()
		_, off := back.Zone()
		_, wantOff := tm.Zone()
		if d.err != nil || !back.Equal(tm) || off != wantOff || len(d.b) != 0 {
			t.Errorf("%v: read back %v (offset %d, err %v, %d bytes left)", tm, back, off, d.err, len(d.b))
		}
	}
}
