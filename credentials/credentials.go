// Package credentials makes and checks the engine's secrets: bearer tokens
// (brands' API keys, creators' and analysts' tokens), of which only hashes
// are kept, and brands' webhook secrets, which are derived from a server
// master key so the log never holds them.
package credentials

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Token prefixes tell a reader what kind of secret they hold.
const (
	PrefixBrandKey     = "ak_"
	PrefixCreatorToken = "ct_"
	PrefixAnalystToken = "at_"
	PrefixWebhook      = "whsec_"
)

// NewToken returns prefix followed by 256 random bits, URL-safe.
func NewToken(prefix string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on Linux
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// NewID returns prefix followed by 96 random bits in hex: ids of brands,
// creators, analysts, offers and requests.
func NewID(prefix string) string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return prefix + hex.EncodeToString(b[:])
}

// Hash returns the hex SHA-256 of a token: what the log and the projections
// keep. Tokens carry 256 random bits, so a plain hash (no salt, no
// stretching) is enough, and lookups by hash stay one key read.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Equal compares two secrets in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// MasterKey is the server secret webhook secrets are derived from.
type MasterKey []byte

// WebhookSecret derives a brand's webhook secret from the master key, the
// brand id and the salt recorded in brand.registered. The same inputs give
// the same secret on every server; changing the master key changes every
// brand's secret.
func (k MasterKey) WebhookSecret(brandID, salt string) string {
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte("attrib webhook secret\x00" + brandID + "\x00" + salt))
	return PrefixWebhook + hex.EncodeToString(mac.Sum(nil))
}

// ParseMasterKey reads a master key given as at least 32 bytes of hex.
func ParseMasterKey(s string) (MasterKey, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("master key: want hex: %w", err)
	}
	if len(b) < 32 {
		return nil, fmt.Errorf("master key: %d bytes, want at least 32", len(b))
	}
	return MasterKey(b), nil
}

// LoadOrCreateMasterKey reads the master key from path, or creates it there
// (mode 0600) with 256 random bits when the file does not exist: the
// single-machine default. Production passes the key explicitly so every
// replica shares it.
func LoadOrCreateMasterKey(path string) (MasterKey, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		return ParseMasterKey(string(data))
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read master key %s: %w", path, err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create master key dir: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(hex.EncodeToString(b[:])+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write master key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("write master key: %w", err)
	}
	return MasterKey(b[:]), nil
}

// LoadOrCreateToken reads a bearer token from path, or creates it there
// (mode 0600) with prefix and 256 random bits: the single-machine default
// of the operator's token.
func LoadOrCreateToken(path, prefix string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		if tok := strings.TrimSpace(string(data)); tok != "" {
			return tok, nil
		}
		return "", fmt.Errorf("token file %s is empty", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read token %s: %w", path, err)
	}
	tok := NewToken(prefix)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create token dir: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write token: %w", err)
	}
	return tok, nil
}
