package ingest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Header names of the webhook.
const (
	// HeaderBrandID names the brand whose secret signed the request.
	HeaderBrandID = "X-Brand-Id"
	// HeaderSignature carries "t=<unix seconds>,v1=<hex HMAC-SHA256>".
	HeaderSignature = "X-Signature"
)

// maxSignatures bounds the v1 entries of one header (a shop rotating its
// secret may send one per secret).
const maxSignatures = 4

// signature is a parsed X-Signature header.
type signature struct {
	// ts is the t value as sent: it is signed as written.
	ts   string
	unix int64
	macs [maxSignatures][sha256.Size]byte
	n    int
}

// parseSignature reads "t=<unix seconds>,v1=<hex>": comma-separated
// key=value pairs, spaces around them ignored, exactly one t of 1 to 12
// decimal digits, 1 to 4 v1 entries of 64 hex digits each; entries of other
// schemes (v0, ...) are ignored so shops can add them. ok is false for a
// malformed header.
func parseSignature(h string) (sig signature, ok bool) {
	if len(h) > 1024 {
		return sig, false
	}
	for part := range strings.SplitSeq(h, ",") {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found {
			return sig, false
		}
		switch k {
		case "t":
			if sig.ts != "" || len(v) == 0 || len(v) > 12 || digits(v, 0) != len(v) {
				return sig, false
			}
			sig.ts = v
			sig.unix, _ = strconv.ParseInt(v, 10, 64)
		case "v1":
			if sig.n == maxSignatures || len(v) != 2*sha256.Size {
				return sig, false
			}
			if _, err := hex.Decode(sig.macs[sig.n][:], []byte(v)); err != nil {
				return sig, false
			}
			sig.n++
		}
	}
	return sig, sig.ts != "" && sig.n > 0
}

// skew returns how far the signature's time is from now, either way.
func (sig *signature) skew(now time.Time) time.Duration {
	d := now.Unix() - sig.unix
	if d < 0 {
		d = -d
	}
	if d > int64(365*24*time.Hour/time.Second) {
		return 365 * 24 * time.Hour
	}
	return time.Duration(d) * time.Second
}

// verify reports whether one of the signature's MACs is
// HMAC-SHA256(secret, "<t>.<body>"), comparing in constant time.
func (sig *signature) verify(macs *macs, secret string, body []byte) bool {
	want := macs.sign(secret, sig.ts, body)
	ok := false
	for i := 0; i < sig.n; i++ {
		// No early exit: the time taken does not depend on which matched.
		if hmac.Equal(sig.macs[i][:], want[:]) {
			ok = true
		}
	}
	return ok
}

// sign returns HMAC-SHA256(secret, "<ts>.<body>").
func sign(secret, ts string, body []byte) [sha256.Size]byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	var sum [sha256.Size]byte
	mac.Sum(sum[:0])
	return sum
}

// Sign returns the X-Signature header value a shop sends for body at time
// t with its webhook secret: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
// "<t>.<body>")>". For shops' client libraries, documentation and tests.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	sum := sign(secret, ts, body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(sum[:])
}

// macs computes HMAC-SHA256 with keyed states kept for reuse, one pool per
// secret: a reset HMAC restores the state it had after hashing the key's
// pads instead of hashing them again, and allocates nothing, where
// hmac.New costs two SHA-256 blocks and a handful of allocations. The
// states derive from the
// secrets and are kept as the secrets are (CachedSecrets holds them too).
// The zero value is ready; it is safe for concurrent use.
type macs struct {
	mu    sync.RWMutex
	pools map[string]*sync.Pool
}

// maxMACPools bounds the secrets macs keeps states for; past it, it starts
// over (a brand's next request makes its state again).
const maxMACPools = 4096

// keyedMAC is a pooled HMAC and a scratch buffer for "<t>.", so that
// writing the timestamp allocates nothing either.
type keyedMAC struct {
	h   hash.Hash
	pre []byte
}

// sign returns HMAC-SHA256(secret, "<ts>.<body>"), as sign does.
func (m *macs) sign(secret, ts string, body []byte) [sha256.Size]byte {
	pool := m.pool(secret)
	k, _ := pool.Get().(*keyedMAC)
	if k == nil {
		k = &keyedMAC{h: hmac.New(sha256.New, []byte(secret)), pre: make([]byte, 0, 16)}
	} else {
		k.h.Reset()
	}
	k.pre = append(append(k.pre[:0], ts...), '.')
	k.h.Write(k.pre)
	k.h.Write(body)
	var sum [sha256.Size]byte
	k.h.Sum(sum[:0])
	pool.Put(k)
	return sum
}

// signBody returns HMAC-SHA256(secret, body): the shop platforms'
// signature, on the same pooled states.
func (m *macs) signBody(secret string, body []byte) [sha256.Size]byte {
	pool := m.pool(secret)
	k, _ := pool.Get().(*keyedMAC)
	if k == nil {
		k = &keyedMAC{h: hmac.New(sha256.New, []byte(secret)), pre: make([]byte, 0, 16)}
	} else {
		k.h.Reset()
	}
	k.h.Write(body)
	var sum [sha256.Size]byte
	k.h.Sum(sum[:0])
	pool.Put(k)
	return sum
}

// pool returns the pool of secret's states, making it on first use.
func (m *macs) pool(secret string) *sync.Pool {
	m.mu.RLock()
	p := m.pools[secret]
	m.mu.RUnlock()
	if p != nil {
		return p
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p = m.pools[secret]; p == nil {
		if m.pools == nil || len(m.pools) >= maxMACPools {
			m.pools = make(map[string]*sync.Pool)
		}
		p = new(sync.Pool)
		m.pools[secret] = p
	}
	return p
}

// digits returns the position after the ASCII digits starting at i.
func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
