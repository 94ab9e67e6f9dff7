package ingest

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// referenceMAC is HMAC-SHA256(secret, "<ts>.<body>") the plain way.
func referenceMAC(secret, ts string, body []byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	return sum
}

// TestMACsReuseKeyedStates checks that the pooled, reset MACs give what a
// fresh HMAC gives: on first and later use of a state, with secrets
// interleaved (a state must never be handed to another secret), with
// bodies of different lengths, and after the cache started over.
func TestMACsReuseKeyedStates(t *testing.T) {
	var m macs
	secrets := []string{"whsec_a", "whsec_b", "", "a key longer than one SHA-256 block: " + string(make([]byte, 80))}
	bodies := [][]byte{nil, []byte(`{}`), []byte(`{"event_id":"e1"}`), make([]byte, 1000)}
	check := func(secret, ts string, body []byte) {
		t.Helper()
		if got, want := m.sign(secret, ts, body), referenceMAC(secret, ts, body); got != want {
			t.Fatalf("sign(%q, %q, %d bytes) = %x, want %x", secret, ts, len(body), got, want)
		}
	}
	for round := range 3 {
		for _, secret := range secrets {
			for i, body := range bodies {
				check(secret, strconv.Itoa(1764000000+round*10+i), body)
			}
		}
	}
	// Past maxMACPools secrets the cache starts over; it stays bounded,
	// and answers stay right for old and new secrets alike.
	for i := range maxMACPools + 10 {
		check("whsec_"+strconv.Itoa(i), "1764000000", bodies[2])
	}
	if n := len(m.pools); n > maxMACPools {
		t.Errorf("%d pools kept, want at most %d", n, maxMACPools)
	}
	for _, secret := range secrets {
		check(secret, "1764000001", bodies[3])
	}
}

// TestMACsConcurrent signs with two secrets from many goroutines at once
// (run with -race): states go back to their own secret's pool only.
func TestMACsConcurrent(t *testing.T) {
	var m macs
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			secret := "whsec_" + strconv.Itoa(g%2)
			for i := range 300 {
				body := []byte(fmt.Sprintf(`{"event_id":"e%d-%d"}`, g, i))
				ts := strconv.Itoa(1764000000 + i)
				if got, want := m.sign(secret, ts, body), referenceMAC(secret, ts, body); got != want {
					errs <- fmt.Errorf("goroutine %d, request %d: got %x, want %x", g, i, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
