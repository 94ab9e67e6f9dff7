package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadgenWebhookAgainstEngine runs `attrib loadgen webhook` for a few
// seconds against a real engine: every order it sends must reach the
// creators' reports with the totals it computed itself.
func TestLoadgenWebhookAgainstEngine(t *testing.T) {
	e := startEngine(t)
	out := filepath.Join(t.TempDir(), "figures.txt")
	args := append([]string{"loadgen", "webhook", "--url", e.base, "--admin-token", e.admin,
		"--rate", "300", "--duration", "3s", "--webhook-brands", "2", "--webhook-creators", "4",
		"--follow-up-min", "200ms", "--follow-up-max", "1s", "--final-wait", "60s", "--batch", "50", "--out", out},
		e.common...)
	var stderr syncBuffer
	if code := runContext(context.Background(), args, env(nil), io.Discard, &stderr); code != 0 {
		t.Fatalf("loadgen webhook exited %d:\n%s", code, stderr.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	figures := string(raw)
	for _, want := range []string{"check: nothing lost: the reports of all 4 creators", "202 to visible in reports: p50 ", "cpu engine ", "cpu generator "} {
		if !strings.Contains(figures, want) {
			t.Errorf("figures lack %q:\n%s", want, figures)
		}
	}
}
