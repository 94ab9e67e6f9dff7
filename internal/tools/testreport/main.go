// Command testreport reads `go test -json` output on stdin, echoes the
// output of failed and skipped tests, and ends with one line
// "N passed, N failed, N skipped". It exits non-zero when a test failed, a
// package failed to build, or — with -no-skip, as `make test` runs it — when
// any test skipped: an integration test that skips in CI has not been run.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type result struct {
	passed, failed, skipped int
	failedPkgs              []string
	report                  []string
}

func main() {
	noSkip := flag.Bool("no-skip", false, "fail when any test skipped")
	flag.Parse()
	r, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	for _, line := range r.report {
		fmt.Println(line)
	}
	fmt.Printf("%d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skipped)
	switch {
	case r.failed > 0 || len(r.failedPkgs) > 0:
		os.Exit(1)
	case *noSkip && r.skipped > 0:
		fmt.Println("testreport: tests were skipped; `make test` requires every test to run")
		os.Exit(1)
	}
}

// summarize counts test results and collects the output of tests that
// failed or skipped. Lines that are not JSON (build errors) are echoed to
// echo as they come.
func summarize(in io.Reader, echo io.Writer) (*result, error) {
	r := &result{}
	outputs := map[string][]string{} // package/test -> output lines
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
			fmt.Fprintln(echo, string(line))
			continue
		}
		key := ev.Package + " " + ev.Test
		switch ev.Action {
		case "output":
			outputs[key] = append(outputs[key], ev.Output)
		case "pass":
			if ev.Test != "" {
				r.passed++
			}
			delete(outputs, key)
		case "skip":
			if ev.Test != "" {
				r.skipped++
				r.report = append(r.report, "SKIP "+key+"\n"+strings.Join(outputs[key], ""))
			}
			delete(outputs, key)
		case "fail":
			if ev.Test != "" {
				r.failed++
				r.report = append(r.report, "FAIL "+key+"\n"+strings.Join(outputs[key], ""))
			} else {
				r.failedPkgs = append(r.failedPkgs, ev.Package)
				if out := outputs[key]; len(out) > 0 {
					r.report = append(r.report, "FAIL package "+ev.Package+"\n"+strings.Join(out, ""))
				}
			}
			delete(outputs, key)
		}
	}
	sort.Strings(r.failedPkgs)
	return r, sc.Err()
}
