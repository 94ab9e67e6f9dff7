package catalog_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/schemas"
)

var (
	key2 = strings.Repeat("02", 32)
	key3 = strings.Repeat("03", 32)
	key4 = strings.Repeat("04", 32)
)

func keyRotated(brandID, next, previous, retired string) schemas.BrandAPIKeyRotated {
	return schemas.BrandAPIKeyRotated{BrandID: brandID, Name: "Acme", APIKeyHash: next, PreviousAPIKeyHash: previous, RetiredAPIKeyHash: retired}
}

func secretRotated(brandID, next, previous, retired string) schemas.BrandWebhookSecretRotated {
	return schemas.BrandWebhookSecretRotated{BrandID: brandID, WebhookSecretSalt: next, PreviousWebhookSecretSalt: previous, RetiredWebhookSecretSalt: retired}
}

func TestDecideRotateCredential(t *testing.T) {
	salt := "salt-" + brandA
	rotate := func(kind, value, by string) catalog.RotateCredential {
		return catalog.RotateCredential{BrandID: brandA, Kind: kind, NewValue: value, AuthorizedBy: by}
	}
	runDecide(t, []decideCase{
		{name: "api key", given: []schemas.Event{registered(brandA)},
			cmd:  rotate(catalog.CredentialAPIKey, key2, keyHash),
			want: []schemas.Event{keyRotated(brandA, key2, keyHash, "")}},
		{name: "api key again: the first rotation's previous key is retired", given: []schemas.Event{registered(brandA), keyRotated(brandA, key2, keyHash, "")},
			cmd:  rotate(catalog.CredentialAPIKey, key3, key2),
			want: []schemas.Event{keyRotated(brandA, key3, key2, keyHash)}},
		{name: "webhook secret", given: []schemas.Event{registered(brandA)},
			cmd:  rotate(catalog.CredentialWebhookSecret, "salt2", keyHash),
			want: []schemas.Event{secretRotated(brandA, "salt2", salt, "")}},
		{name: "webhook secret again", given: []schemas.Event{registered(brandA), secretRotated(brandA, "salt2", salt, "")},
			cmd:  rotate(catalog.CredentialWebhookSecret, "salt3", keyHash),
			want: []schemas.Event{secretRotated(brandA, "salt3", "salt2", salt)}},
		{name: "webhook secret after a key rotation, with the new key", given: []schemas.Event{registered(brandA), keyRotated(brandA, key2, keyHash, "")},
			cmd:  rotate(catalog.CredentialWebhookSecret, "salt2", key2),
			want: []schemas.Event{secretRotated(brandA, "salt2", salt, "")}},
		{name: "with the previous key, in its grace", given: []schemas.Event{registered(brandA), keyRotated(brandA, key2, keyHash, "")},
			cmd: rotate(catalog.CredentialAPIKey, key3, keyHash), err: catalog.ErrConflict},
		{name: "with an unknown key", given: []schemas.Event{registered(brandA)},
			cmd: rotate(catalog.CredentialWebhookSecret, "salt2", key4), err: catalog.ErrConflict},
		{name: "without the key", given: []schemas.Event{registered(brandA)},
			cmd: rotate(catalog.CredentialAPIKey, key2, ""), err: catalog.ErrConflict},
		{name: "to the current key", given: []schemas.Event{registered(brandA)},
			cmd: rotate(catalog.CredentialAPIKey, keyHash, keyHash), err: catalog.ErrConflict},
		{name: "back to the previous salt", given: []schemas.Event{registered(brandA), secretRotated(brandA, "salt2", salt, "")},
			cmd: rotate(catalog.CredentialWebhookSecret, salt, keyHash), err: catalog.ErrConflict},
		{name: "token is not a brand's", given: []schemas.Event{registered(brandA)},
			cmd: rotate(catalog.CredentialToken, key2, keyHash), err: errValidation, field: "kind"},
		{name: "unknown kind", given: []schemas.Event{registered(brandA)},
			cmd: rotate("password", key2, keyHash), err: errValidation, field: "kind"},
		{name: "bad key hash", given: []schemas.Event{registered(brandA)},
			cmd: rotate(catalog.CredentialAPIKey, "not-a-hash", keyHash), err: errValidation, field: "api_key_hash"},
		{name: "empty salt", given: []schemas.Event{registered(brandA)},
			cmd: rotate(catalog.CredentialWebhookSecret, "", keyHash), err: errValidation, field: "webhook_secret_salt"},
		{name: "unknown brand",
			cmd: rotate(catalog.CredentialAPIKey, key2, keyHash), err: catalog.ErrNotFound},
	})
}

// TestBrandCredentialEvolve: the grace runs from the rotation's effective
// time; a second rotation keeps only the newest previous value; a
// redelivered rotation changes nothing; a rebuild gives the same state.
func TestBrandCredentialEvolve(t *testing.T) {
	s := givenStream(t, registered(brandA))
	first := s.now
	s.must(catalog.RotateCredential{BrandID: brandA, Kind: catalog.CredentialAPIKey, NewValue: key2, AuthorizedBy: keyHash}, nil)
	k := s.brand.APIKey()
	want := catalog.Credential{Current: key2, Previous: keyHash, PreviousValidUntil: first.Add(catalog.CredentialGrace), RotatedAt: first}
	if k != want {
		t.Fatalf("after one rotation %+v, want %+v", k, want)
	}
	for _, tc := range []struct {
		name  string
		value string
		at    time.Time
		valid bool
	}{
		{"new key", key2, first.Add(48 * time.Hour), true},
		{"old key during the grace", keyHash, first.Add(catalog.CredentialGrace - time.Nanosecond), true},
		{"old key at the end of the grace", keyHash, first.Add(catalog.CredentialGrace), false},
		{"unknown key", key4, first, false},
		{"empty", "", first, false},
	} {
		if got := k.ValidAt(tc.value, tc.at); got != tc.valid {
			t.Errorf("%s: ValidAt = %v, want %v", tc.name, got, tc.valid)
		}
	}

	// Redelivery of the rotation: nothing changes.
	s.brand.Evolve(s.log[len(s.log)-1], keyRotated(brandA, key2, keyHash, ""))
	if s.brand.APIKey() != want {
		t.Fatalf("after a redelivery %+v, want %+v", s.brand.APIKey(), want)
	}

	second := s.tick(time.Hour)
	s.must(catalog.RotateCredential{BrandID: brandA, Kind: catalog.CredentialAPIKey, NewValue: key3, AuthorizedBy: key2}, nil)
	k = s.brand.APIKey()
	if k.ValidAt(keyHash, second) || !k.ValidAt(key2, second.Add(catalog.CredentialGrace-time.Second)) || !k.ValidAt(key3, second) {
		t.Fatalf("after a second rotation %+v: want only %s (current) and %s (previous)", k, key3, key2)
	}
	if s.brand.WebhookSecret() != (catalog.Credential{Current: "salt-" + brandA}) {
		t.Fatalf("webhook secret %+v changed by key rotations", s.brand.WebhookSecret())
	}
	if got := rebuild(t, s.log); !reflect.DeepEqual(got.APIKey(), k) {
		t.Fatalf("rebuilt %+v, want %+v", got.APIKey(), k)
	}
}

func TestDecideTokenRotation(t *testing.T) {
	creator := &catalog.Creator{ID: anna, Name: "Anna", TokenHash: keyHash, Token: catalog.Credential{Current: keyHash}}
	rotatedOnce := &catalog.Creator{ID: anna, Name: "Anna", TokenHash: key2,
		Token: catalog.Credential{Current: key2, Previous: keyHash, PreviousValidUntil: t0.Add(catalog.CredentialGrace), RotatedAt: t0}}
	for _, tc := range []struct {
		name  string
		state *catalog.Creator
		cmd   catalog.RotateToken
		want  []schemas.Event
		err   error
		field string
	}{
		{name: "first rotation", state: creator, cmd: catalog.RotateToken{PrincipalID: anna, TokenHash: key2, AuthorizedBy: keyHash},
			want: []schemas.Event{schemas.CreatorTokenRotated{CreatorID: anna, Name: "Anna", TokenHash: key2, PreviousTokenHash: keyHash}}},
		{name: "second rotation retires the first's previous", state: rotatedOnce, cmd: catalog.RotateToken{PrincipalID: anna, TokenHash: key3, AuthorizedBy: key2},
			want: []schemas.Event{schemas.CreatorTokenRotated{CreatorID: anna, Name: "Anna", TokenHash: key3, PreviousTokenHash: key2, RetiredTokenHash: keyHash}}},
		{name: "with the previous token", state: rotatedOnce, cmd: catalog.RotateToken{PrincipalID: anna, TokenHash: key3, AuthorizedBy: keyHash}, err: catalog.ErrConflict},
		{name: "to the current token", state: creator, cmd: catalog.RotateToken{PrincipalID: anna, TokenHash: keyHash, AuthorizedBy: keyHash}, err: catalog.ErrConflict},
		{name: "bad hash", state: creator, cmd: catalog.RotateToken{PrincipalID: anna, TokenHash: "x", AuthorizedBy: keyHash}, err: errValidation, field: "token_hash"},
		{name: "not registered", cmd: catalog.RotateToken{PrincipalID: anna, TokenHash: key2, AuthorizedBy: keyHash}, err: catalog.ErrNotFound},
		{name: "another creator's state", state: creator, cmd: catalog.RotateToken{PrincipalID: boris, TokenHash: key2, AuthorizedBy: keyHash}, err: errValidation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := catalog.DecideCreatorRotation(tc.state, tc.cmd)
			checkErr(t, err, tc.err, tc.field)
			if tc.err == nil {
				checkEvents(t, got, tc.want)
			}
		})
	}

	analyst := &catalog.Analyst{ID: "analyst-1", Name: "Ops", TokenHash: keyHash, Token: catalog.Credential{Current: keyHash}}
	got, err := catalog.DecideAnalystRotation(analyst, catalog.RotateToken{PrincipalID: "analyst-1", TokenHash: key2, AuthorizedBy: keyHash})
	if err != nil {
		t.Fatal(err)
	}
	checkEvents(t, got, []schemas.Event{schemas.AnalystTokenRotated{AnalystID: "analyst-1", Name: "Ops", TokenHash: key2, PreviousTokenHash: keyHash}})
	if _, err := catalog.DecideAnalystRotation(analyst, catalog.RotateToken{PrincipalID: "analyst-1", TokenHash: key2, AuthorizedBy: key3}); err == nil {
		t.Fatal("an analyst's rotation with a token that is not current was accepted")
	}
}

// TestTokenRotationEvolve: creators' and analysts' rotations fold as
// brands' do, from the event's occurred_at, once.
func TestTokenRotationEvolve(t *testing.T) {
	reg := schemas.CreatorRegistered{CreatorID: anna, Name: "Anna", Email: "anna@example.com", TokenHash: keyHash}
	env0, _ := schemas.NewEnvelopeFor(reg, t0, t0)
	t1 := t0.Add(time.Hour)
	rot := schemas.CreatorTokenRotated{CreatorID: anna, Name: "Anna", TokenHash: key2, PreviousTokenHash: keyHash}
	env1, err := schemas.NewEnvelopeFor(rot, t1, t1)
	if err != nil {
		t.Fatal(err)
	}
	var c catalog.Creator
	c.Evolve(env0, &reg)
	c.Evolve(env1, &rot)
	c.Evolve(env1, rot)
	c.Evolve(env1, schemas.CreatorTokenRotated{CreatorID: boris, Name: "Boris", TokenHash: key3, PreviousTokenHash: key2})
	want := catalog.Credential{Current: key2, Previous: keyHash, PreviousValidUntil: t1.Add(catalog.CredentialGrace), RotatedAt: t1}
	if c.Token != want || c.TokenHash != key2 {
		t.Fatalf("creator token %+v (hash %s), want %+v", c.Token, c.TokenHash, want)
	}

	areg := schemas.AnalystRegistered{AnalystID: "analyst-1", Name: "Ops", TokenHash: keyHash}
	arot := schemas.AnalystTokenRotated{AnalystID: "analyst-1", Name: "Ops", TokenHash: key2, PreviousTokenHash: keyHash}
	var a catalog.Analyst
	a.Evolve(env0, areg)
	a.Evolve(env1, arot)
	a.Evolve(env1, arot)
	if a.Token != want || a.TokenHash != key2 {
		t.Fatalf("analyst token %+v (hash %s), want %+v", a.Token, a.TokenHash, want)
	}
}
