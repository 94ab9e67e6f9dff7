package credentials

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestTokensAndHashes(t *testing.T) {
	a, b := NewToken(PrefixCreatorToken), NewToken(PrefixCreatorToken)
	if a == b || !strings.HasPrefix(a, "ct_") || len(a) != 3+43 {
		t.Fatalf("tokens %q %q: want distinct ct_ + 43 chars", a, b)
	}
	if h1, h2 := Hash(a), Hash(a); h1 != h2 || h1 == Hash(b) || len(h1) != 64 {
		t.Fatal("Hash must be a stable 64-char hex digest that differs between tokens")
	}
	if !Equal(a, a) || Equal(a, b) {
		t.Fatal("Equal is wrong")
	}
}

func TestMasterKeyPersistsAndDerives(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "secret.key")
	k1, err := LoadOrCreateMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := k1.WebhookSecret("brand-1", "salt"), k2.WebhookSecret("brand-1", "salt")
	if s1 != s2 || !strings.HasPrefix(s1, PrefixWebhook) {
		t.Fatalf("secret not stable across loads: %q %q", s1, s2)
	}
	for _, other := range []string{k1.WebhookSecret("brand-2", "salt"), k1.WebhookSecret("brand-1", "salt2")} {
		if other == s1 {
			t.Fatal("different brand or salt gave the same secret")
		}
	}
	if _, err := ParseMasterKey("abcd"); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := ParseMasterKey("zz"); err == nil {
		t.Fatal("non-hex key accepted")
	}
}

func TestLoadOrCreateToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.token")
	a, err := LoadOrCreateToken(path, "adm_")
	if err != nil || !strings.HasPrefix(a, "adm_") {
		t.Fatalf("LoadOrCreateToken = %q, %v", a, err)
	}
	b, err := LoadOrCreateToken(path, "adm_")
	if err != nil || a != b {
		t.Fatalf("second load = %q, %v; want %q", b, err, a)
	}
}
