package credentials

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// Shop connectors' secrets are chosen by the shop (the brand pastes them),
// so unlike the engine's own webhook secrets they cannot be derived: they
// are sealed instead. The log keeps the sealed text and a fingerprint; only
// a holder of the master key can open the one or compute the other.

// sealKey derives the AES-256 key that seals connector secrets.
func (k MasterKey) sealKey() []byte {
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte("attrib connector secret seal"))
	return mac.Sum(nil)
}

// sealAAD binds a sealed secret to its brand and platform, so that one
// cannot be moved to another connector.
func sealAAD(brandID, platform string) []byte {
	return []byte(brandID + "\x00" + platform)
}

// SealConnectorSecret seals the secret of a brand's connector of platform
// with AES-256-GCM under a key derived from k, bound to the brand and the
// platform, with a random nonce: base64url of nonce and ciphertext.
func (k MasterKey) SealConnectorSecret(brandID, platform, secret string) (string, error) {
	block, err := aes.NewCipher(k.sealKey())
	if err != nil {
		return "", fmt.Errorf("seal connector secret: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", fmt.Errorf("seal connector secret: %w", err)
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(secret)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal connector secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(secret), sealAAD(brandID, platform))), nil
}

// ErrUnsealable is returned by OpenConnectorSecret for a text that this
// master key did not seal for this brand and platform.
var ErrUnsealable = errors.New("connector secret cannot be opened with this master key")

// OpenConnectorSecret opens what SealConnectorSecret sealed for the same
// brand and platform with the same master key.
func (k MasterKey) OpenConnectorSecret(brandID, platform, sealed string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnsealable, err)
	}
	block, err := aes.NewCipher(k.sealKey())
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	if len(raw) < gcm.NonceSize() {
		return "", fmt.Errorf("%w: too short", ErrUnsealable)
	}
	plain, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], sealAAD(brandID, platform))
	if err != nil {
		return "", ErrUnsealable
	}
	return string(plain), nil
}

// ConnectorSecretFingerprint identifies a connector's secret: the hex
// HMAC-SHA256, keyed by k, of the brand, the platform and the secret. The
// same secret gives the same fingerprint (so a repeated setting is seen to
// change nothing); without k it reveals nothing of the secret.
func (k MasterKey) ConnectorSecretFingerprint(brandID, platform, secret string) string {
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte("attrib connector secret fingerprint\x00" + brandID + "\x00" + platform + "\x00" + secret))
	return hex.EncodeToString(mac.Sum(nil))
}
