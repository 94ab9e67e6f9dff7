package eventstore_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/eventstore/embedded"
	"github.com/attrib-engine/attrib/schemas"
)

// oldLayoutRecord is a record as the store wrote it before the current
// layout: the whole envelope's JSON as the value (testdata's lines are such
// values, written by the engine then), keyed by its aggregate key, with
// the event id, type and schema version repeated in headers.
func oldLayoutRecord(tb testing.TB, topic string, value []byte) (kafka.Message, schemas.Envelope) {
	tb.Helper()
	var env schemas.Envelope
	if err := schemas.UnmarshalEnvelope(value, &env); err != nil {
		tb.Fatal(err)
	}
	return kafka.Message{
		Topic: topic,
		Key:   []byte(env.AggregateKey),
		Value: value,
		Headers: []kafka.Header{
			{Key: eventstore.HeaderEventID, Value: []byte(env.EventID)},
			{Key: eventstore.HeaderEventType, Value: []byte(env.Type)},
			{Key: eventstore.HeaderSchemaVersion, Value: []byte(strconv.Itoa(env.SchemaVersion))},
		},
	}, env
}

// TestOldRecordsDecodeIdentically puts the records of the engine's
// testdata into a broker in the old layout, then the same envelopes
// through Append and AppendToPartition in the current one, and replays
// the partition: every record, of either layout, reads back as the
// envelope the old record's value holds, field by field and payload byte
// by byte, and as the same event. The current records carry no headers,
// and their values neither the aggregate key nor the brand.
func TestOldRecordsDecodeIdentically(t *testing.T) {
	b := startBroker(t, embedded.Config{})
	s := openStore(t, b.Addrs())
	topic := uniqueName(t, "topic")
	ensureTopic(t, s, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var old []kafka.Message
	var want []schemas.Envelope
	for _, name := range []string{"orders", "attributions"} {
		for _, v := range engineRecords(t, name) {
			m, env := oldLayoutRecord(t, topic, v)
			old = append(old, m)
			want = append(want, env)
		}
	}
	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 100}
	defer w.Close()
	if err := w.WriteMessages(ctx, old...); err != nil {
		t.Fatal(err)
	}
	half := len(want) / 2
	if err := s.Append(ctx, topic, want[:half]...); err != nil {
		t.Fatal(err)
	}
	for i := half; i < len(want); i += 100 {
		if _, err := s.AppendToPartition(ctx, topic, 0, want[i:min(i+100, len(want))]...); err != nil {
			t.Fatal(err)
		}
	}

	var got []eventstore.Message
	err := s.ReplayPartition(ctx, topic, 0, eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
		for _, m := range b.Messages {
			m.Value = append([]byte(nil), m.Value...)
			m.Envelope.Payload = append([]byte(nil), m.Envelope.Payload...)
			got = append(got, m)
		}
		return nil
	}), eventstore.ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2*len(want) {
		t.Fatalf("read back %d records, want %d", len(got), 2*len(want))
	}
	for i, m := range got {
		layout, w := "old", want[i%len(want)]
		if i >= len(want) {
			layout = "current"
			if len(m.Headers) != 0 || bytes.Contains(m.Value, []byte(`"aggregate_key"`)) || bytes.Contains(m.Value, []byte(`"brand_id":"`+w.BrandID+`","occurred_at"`)) {
				t.Fatalf("current record %d: headers %v, value %s: want no headers, no aggregate key and no envelope brand", i, m.Headers, m.Value)
			}
		} else if len(m.Headers) != 3 {
			t.Fatalf("old record %d: headers %v", i, m.Headers)
		}
		e := m.Envelope
		if e.EventID != w.EventID || e.Type != w.Type || e.SchemaVersion != w.SchemaVersion ||
			e.AggregateKey != w.AggregateKey || e.BrandID != w.BrandID ||
			!e.OccurredAt.Equal(w.OccurredAt) || !e.RecordedAt.Equal(w.RecordedAt) ||
			e.CausationID != w.CausationID || e.CorrelationID != w.CorrelationID || !bytes.Equal(e.Payload, w.Payload) {
			t.Fatalf("%s record %d read back as\n%+v\nwant\n%+v", layout, i, e, w)
		}
		gotEv, err := schemas.Decode(e)
		if err != nil {
			t.Fatalf("%s record %d: %v", layout, i, err)
		}
		wantEv, err := schemas.Decode(w)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := mustMarshal(t, gotEv), mustMarshal(t, wantEv); !bytes.Equal(a, b) {
			t.Fatalf("%s record %d decodes to %s, want %s", layout, i, a, b)
		}
	}
}

func mustMarshal(t *testing.T, ev schemas.Event) []byte {
	t.Helper()
	b, err := schemas.MarshalPayload(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
