package commands_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/commands"
)

func TestEncodeAtRoundTrip(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	past := now.Add(-61 * 24 * time.Hour)
	confirm := catalog.ConfirmCode{BrandID: "brand-a", RequestID: "req-1", Code: "ANNA10"}
	cases := []struct {
		name     string
		at       time.Time
		wantType string
	}{
		{"at the processor's clock", time.Time{}, "command.confirm_code"},
		{"backdated", past, "command.backdated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, err := commands.EncodeAt(confirm, "cmd-1", "corr-1", now, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if env.Type != tc.wantType || env.AggregateKey != "brand-a" || env.EventID != "cmd-1" {
				t.Fatalf("envelope type %q key %q id %q, want %q brand-a cmd-1", env.Type, env.AggregateKey, env.EventID, tc.wantType)
			}
			cmd, at, err := commands.DecodeAt(env)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cmd, catalog.BrandCommand(confirm)) || !at.Equal(tc.at) {
				t.Fatalf("decoded %#v at %v, want %#v at %v", cmd, at, confirm, tc.at)
			}
			_, plainErr := commands.Decode(env)
			if backdated := !tc.at.IsZero(); backdated == (plainErr == nil) {
				t.Fatalf("Decode of a %s envelope: error %v", tc.wantType, plainErr)
			}
		})
	}
}

func TestDecodeAtRefusesMalformedBackdating(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	env, err := commands.EncodeAt(catalog.RevokeCode{BrandID: "brand-a", Code: "X1"}, "cmd-1", "", now, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		payload string
	}{
		{"no time", `{"type":"command.revoke_code","command":{"BrandID":"brand-a","Code":"X1"}}`},
		{"nested", `{"type":"command.backdated","at":"2026-11-01T00:00:00Z","command":{}}`},
		{"unknown inner type", `{"type":"command.frobnicate","at":"2026-11-01T00:00:00Z","command":{}}`},
		{"inner key differs", `{"type":"command.revoke_code","at":"2026-11-01T00:00:00Z","command":{"BrandID":"brand-b","Code":"X1"}}`},
		{"not json", `{"type":`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := env
			bad.Payload = json.RawMessage(tc.payload)
			if cmd, at, err := commands.DecodeAt(bad); err == nil {
				t.Fatalf("DecodeAt(%s) = %#v at %v, want an error", tc.payload, cmd, at)
			}
		})
	}
}
