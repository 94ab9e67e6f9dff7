package eventstore_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/compress"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/eventstore/embedded"
	"github.com/attrib-engine/attrib/schemas"
)

// engineRecords reads testdata/<topic>.jsonl.gz: record values of one
// partition of an event topic, in log order, as the engine wrote them in a
// run of `attrib loadgen retention` (orders with holds, and their
// attribution rows).
func engineRecords(tb testing.TB, topic string) [][]byte {
	tb.Helper()
	f, err := os.Open("testdata/" + topic + ".jsonl.gz")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var env schemas.Envelope
		if err := schemas.UnmarshalEnvelope(sc.Bytes(), &env); err != nil {
			tb.Fatalf("testdata/%s: %v", topic, err)
		}
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// recordsSection is what a batch of the store's records compresses: key,
// value and headers of each (lengths and offsets aside, a few bytes a
// record), in the old layout (the values as testdata holds them, and the
// headers event-id, event-type and schema-version) or the current one
// (schemas.AppendRecordValue, no headers).
func recordsSection(tb testing.TB, values [][]byte, current bool) []byte {
	var b []byte
	for _, v := range values {
		var env schemas.Envelope
		if err := schemas.UnmarshalEnvelope(v, &env); err != nil {
			tb.Fatal(err)
		}
		b = append(b, env.AggregateKey...)
		if current {
			var err error
			if b, err = schemas.AppendRecordValue(b, &env); err != nil {
				tb.Fatal(err)
			}
			continue
		}
		b = append(b, v...)
		b = append(b, eventstore.HeaderEventID+env.EventID...)
		b = append(b, eventstore.HeaderEventType+env.Type...)
		b = append(b, eventstore.HeaderSchemaVersion...)
		b = strconv.AppendInt(b, int64(env.SchemaVersion), 10)
	}
	return b
}

// BenchmarkCompression compresses batches of the engine's records, in the
// old and the current record layout, with each of kafka-go's codecs, as
// the store's producer would: one batch is what one produce request
// carries to one partition. It reports the compressed bytes per record and
// the CPU per record of compressing and of decompressing.
func BenchmarkCompression(b *testing.B) {
	for _, topic := range []string{"orders", "attributions"} {
		values := engineRecords(b, topic)
		for _, layout := range []string{"old", "current"} {
			for _, codec := range []compress.Compression{compress.None, compress.Lz4, compress.Snappy, compress.Zstd, compress.Gzip} {
				for _, size := range []int{1, 10, 100} {
					b.Run(topic+"/layout="+layout+"/"+codec.String()+"/batch="+strconv.Itoa(size), func(b *testing.B) {
						benchCodec(b, codec, values, size, layout == "current")
					})
				}
			}
		}
	}
}

func benchCodec(b *testing.B, codec compress.Compression, values [][]byte, size int, current bool) {
	var batches [][]byte
	for i := 0; i+size <= len(values); i += size {
		batches = append(batches, recordsSection(b, values[i:i+size], current))
	}
	if len(batches) == 0 {
		b.Fatalf("fewer than %d records in testdata", size)
	}
	var raw, packed int64
	var buf bytes.Buffer
	var compressTime, decompressTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch := batches[i%len(batches)]
		buf.Reset()
		t0 := time.Now()
		if codec == compress.None {
			buf.Write(batch)
		} else {
			w := codec.Codec().NewWriter(&buf)
			if _, err := w.Write(batch); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		if codec != compress.None {
			r := codec.Codec().NewReader(bytes.NewReader(buf.Bytes()))
			n, err := io.Copy(io.Discard, r)
			if err != nil || n != int64(len(batch)) {
				b.Fatalf("decompressed %d of %d bytes: %v", n, len(batch), err)
			}
			r.Close()
		}
		compressTime += t1.Sub(t0)
		decompressTime += time.Since(t1)
		raw += int64(len(batch))
		packed += int64(buf.Len())
	}
	records := float64(b.N * size)
	b.ReportMetric(float64(raw)/records, "raw-B/record")
	b.ReportMetric(float64(packed)/records, "B/record")
	b.ReportMetric(float64(compressTime.Nanoseconds())/records, "compress-ns/record")
	b.ReportMetric(float64(decompressTime.Nanoseconds())/records, "decompress-ns/record")
}

// TestBrokerKeepsBatchesCompressed appends the same records of the engine
// to the embedded broker (log on disk) with each codec, in produce batches
// of 50 (AppendToPartition) and through Append, and checks that the log
// holds them compressed as sent, a fraction of their uncompressed size,
// and that they read back whole.
func TestBrokerKeepsBatchesCompressed(t *testing.T) {
	var envs []schemas.Envelope
	for _, topic := range []string{"orders", "attributions"} {
		for _, v := range engineRecords(t, topic) {
			var env schemas.Envelope
			if err := schemas.UnmarshalEnvelope(v, &env); err != nil {
				t.Fatal(err)
			}
			envs = append(envs, env)
		}
	}
	sizes := map[string]int64{}
	for _, codec := range []string{"none", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			dir := t.TempDir()
			b := startBroker(t, embedded.Config{DataDir: dir, SyncWrites: true})
			s, err := eventstore.Open(context.Background(), eventstore.Config{Brokers: b.Addrs(), Compression: codec, Logger: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			topic := uniqueName(t, "topic")
			ensureTopic(t, s, topic, 1)
			ctx := context.Background()
			half := len(envs) / 2
			for i := 0; i < half; i += 50 {
				if _, err := s.AppendToPartition(ctx, topic, 0, envs[i:min(i+50, half)]...); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Append(ctx, topic, envs[half:]...); err != nil {
				t.Fatal(err)
			}
			var got []schemas.Envelope
			err = s.ReplayPartition(ctx, topic, 0, eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
				for _, m := range b.Messages {
					got = append(got, m.Envelope)
				}
				return nil
			}), eventstore.ReplayOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(envs) {
				t.Fatalf("read back %d events, want %d", len(got), len(envs))
			}
			for i := range got {
				if got[i].EventID != envs[i].EventID || !bytes.Equal(got[i].Payload, envs[i].Payload) {
					t.Fatalf("event %d read back as %s %s, want %s %s", i, got[i].EventID, got[i].Payload, envs[i].EventID, envs[i].Payload)
				}
			}
			sizes[codec] = logBytes(t, filepath.Join(dir, "partitions", topic+"-0"))
		})
	}
	t.Logf("log bytes by codec: %v, for %d records", sizes, len(envs))
	// What BenchmarkCompression finds for batches of 10-100 of these
	// records, with room: zstd about 6 times smaller, lz4 about 4.
	if sizes["zstd"]*4 > sizes["none"] || sizes["lz4"]*2 > sizes["none"] || sizes["zstd"] >= sizes["lz4"] {
		t.Errorf("log bytes none %d, lz4 %d, zstd %d: want zstd < none/4, lz4 < none/2 and zstd < lz4 (does the broker keep the batches as sent?)",
			sizes["none"], sizes["lz4"], sizes["zstd"])
	}
}

// logBytes is the size of the files of one partition's log directory.
func logBytes(t *testing.T, dir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("the broker's log of the partition: %v", err)
	}
	var n int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		n += info.Size()
	}
	return n
}
