package main

import (
	"io"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"ok\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"boom\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Test":"TestC","Output":"needs redis\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestC"}`,
		`{"Action":"skip","Package":"q"}`,
		`# q [build failed]`,
		`{"Action":"fail","Package":"r"}`,
	}, "\n")
	r, err := summarize(strings.NewReader(in), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r.passed != 1 || r.failed != 1 || r.skipped != 1 {
		t.Fatalf("passed/failed/skipped = %d/%d/%d, want 1/1/1", r.passed, r.failed, r.skipped)
	}
	if len(r.failedPkgs) != 1 || r.failedPkgs[0] != "r" {
		t.Fatalf("failed packages %v, want [r]", r.failedPkgs)
	}
	joined := strings.Join(r.report, "")
	for _, want := range []string{"FAIL p TestB\nboom", "SKIP p TestC\nneeds redis"} {
		if !strings.Contains(joined, want) {
			t.Errorf("report lacks %q:\n%s", want, joined)
		}
	}
}
