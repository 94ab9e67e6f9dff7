package credentials_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/attrib-engine/attrib/credentials"
)

func TestSealConnectorSecret(t *testing.T) {
	k, _ := credentials.ParseMasterKey(strings.Repeat("11", 32))
	other, _ := credentials.ParseMasterKey(strings.Repeat("22", 32))
	const secret = "shpss_0123456789abcdef"
	sealed, err := k.SealConnectorSecret("brand-1", "shopify", secret)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, secret) {
		t.Fatalf("sealed text %q holds the secret", sealed)
	}
	again, _ := k.SealConnectorSecret("brand-1", "shopify", secret)
	if again == sealed {
		t.Errorf("two seals of one secret are equal: the nonce is not random")
	}
	for _, tc := range []struct {
		name            string
		key             credentials.MasterKey
		brand, platform string
		sealed          string
		want            string
		err             error
	}{
		{name: "opens", key: k, brand: "brand-1", platform: "shopify", sealed: sealed, want: secret},
		{name: "another seal of it opens", key: k, brand: "brand-1", platform: "shopify", sealed: again, want: secret},
		{name: "another brand", key: k, brand: "brand-2", platform: "shopify", sealed: sealed, err: credentials.ErrUnsealable},
		{name: "another platform", key: k, brand: "brand-1", platform: "woocommerce", sealed: sealed, err: credentials.ErrUnsealable},
		{name: "another master key", key: other, brand: "brand-1", platform: "shopify", sealed: sealed, err: credentials.ErrUnsealable},
		{name: "not base64", key: k, brand: "brand-1", platform: "shopify", sealed: "%%%", err: credentials.ErrUnsealable},
		{name: "too short", key: k, brand: "brand-1", platform: "shopify", sealed: "AAAA", err: credentials.ErrUnsealable},
		{name: "tampered", key: k, brand: "brand-1", platform: "shopify", sealed: sealed[:len(sealed)-2] + "AA", err: credentials.ErrUnsealable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.key.OpenConnectorSecret(tc.brand, tc.platform, tc.sealed)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("open = %q, %v; want %v", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("open = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestConnectorSecretFingerprint(t *testing.T) {
	k, _ := credentials.ParseMasterKey(strings.Repeat("11", 32))
	other, _ := credentials.ParseMasterKey(strings.Repeat("22", 32))
	fp := k.ConnectorSecretFingerprint("b", "shopify", "s1")
	if len(fp) != 64 || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Fatalf("fingerprint %q is not 64 hex digits", fp)
	}
	if k.ConnectorSecretFingerprint("b", "shopify", "s1") != fp {
		t.Errorf("fingerprint of one secret changed")
	}
	for name, got := range map[string]string{
		"another secret":     k.ConnectorSecretFingerprint("b", "shopify", "s2"),
		"another brand":      k.ConnectorSecretFingerprint("c", "shopify", "s1"),
		"another platform":   k.ConnectorSecretFingerprint("b", "woocommerce", "s1"),
		"another master key": other.ConnectorSecretFingerprint("b", "shopify", "s1"),
	} {
		if got == fp {
			t.Errorf("%s: same fingerprint", name)
		}
	}
}
