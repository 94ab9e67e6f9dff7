package importrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "example.com/m"

// p is a package of the module mod, named after its folder; imports are
// module-relative unless they hold a dot (another module) or are listed
// in std.
func p(rel string, imports ...string) pkg {
	name := rel[strings.LastIndex(rel, "/")+1:]
	return pkg{ImportPath: mod + "/" + rel, Name: name, Imports: abs(imports)}
}

// dep is a package outside the module.
func dep(path string, imports ...string) pkg {
	return pkg{ImportPath: path, Name: path[strings.LastIndex(path, "/")+1:], Imports: abs(imports), DepOnly: true}
}

var std = []string{"net/http", "net/url", "net/http/httptest", "context"}

func abs(paths []string) []string {
	out := make([]string, len(paths))
	for i, s := range paths {
		if strings.Contains(strings.SplitN(s, "/", 2)[0], ".") || slices.Contains(std, s) {
			out[i] = s
		} else {
			out[i] = mod + "/" + s
		}
	}
	return out
}

// withDeps fills in every package's Deps from the Imports of pkgs, as go
// list does.
func withDeps(pkgs ...pkg) []pkg {
	byPath := make(map[string]pkg)
	for _, q := range pkgs {
		byPath[q.ImportPath] = q
	}
	for i, q := range pkgs {
		seen := map[string]bool{}
		var walk func(string)
		walk = func(path string) {
			for _, d := range byPath[path].Imports {
				if !seen[d] {
					seen[d] = true
					walk(d)
				}
			}
		}
		walk(q.ImportPath)
		for d := range seen {
			pkgs[i].Deps = append(pkgs[i].Deps, d)
		}
		slices.Sort(pkgs[i].Deps)
	}
	return pkgs
}

func TestCheck(t *testing.T) {
	kafka, kafkaProto := dep("github.com/segmentio/kafka-go", "github.com/segmentio/kafka-go/protocol"), dep("github.com/segmentio/kafka-go/protocol")
	redis := dep("github.com/redis/go-redis/v9", "context")
	ch := dep("github.com/ClickHouse/clickhouse-go/v2", "github.com/ClickHouse/ch-go/proto")
	chProto := dep("github.com/ClickHouse/ch-go/proto")
	franz := dep("github.com/twmb/franz-go/pkg/kgo")
	stdlib := []pkg{dep("net/http", "net/url"), dep("net/url"), dep("net/http/httptest", "net/http"), dep("context")}
	eventstore := p("eventstore", "github.com/segmentio/kafka-go")
	rediscatalog := p("projections/rediscatalog", "github.com/redis/go-redis/v9", "eventstore")
	chproj := p("projections/clickhouse", "github.com/ClickHouse/clickhouse-go/v2", "eventstore")
	chproj.Name = "clickhouse"
	schemas := p("schemas")

	// base follows every rule.
	base := []pkg{kafka, kafkaProto, redis, ch, chProto, franz, eventstore, rediscatalog, chproj, schemas,
		p("attribution", "schemas", "net/url"), p("catalog", "schemas"), p("money"), p("promocode"),
		p("attribution/worker", "attribution", "eventstore", "github.com/redis/go-redis/v9"),
		p("ingest", "eventstore", "schemas", "net/http"),
		p("reports", "github.com/ClickHouse/clickhouse-go/v2", "schemas"),
		p("cmd/attrib", "projections/rediscatalog", "projections/clickhouse", "ingest", "reports"),
	}
	base = append(base, stdlib...)
	base[len(base)-len(stdlib)-1].Name = "main"
	ingestTested := p("ingest", "eventstore", "schemas")
	ingestTested.TestImports = []string{mod + "/projections/rediscatalog"}
	ingestTested.XTestImports = []string{mod + "/projections/rediscatalog"}

	tests := []struct {
		name string
		// change replaces or adds packages of base.
		change []pkg
		want   []string
	}{
		{name: "base follows every rule"},
		{name: "tests may import the adapters", change: []pkg{ingestTested}},
		{
			name:   "attribution/worker imports a projection",
			change: []pkg{p("attribution/worker", "attribution", "projections/rediscatalog")},
			want:   []string{"attribution/worker imports projections/rediscatalog"},
		},
		{
			name:   "a new package under attribution/ imports a projection",
			change: []pkg{p("attribution/holds/store", "projections/clickhouse")},
			want:   []string{"attribution/holds/store imports projections/clickhouse"},
		},
		{
			name:   "ingest imports a projection",
			change: []pkg{p("ingest", "schemas", "projections/rediscatalog")},
			want:   []string{"ingest imports projections/rediscatalog"},
		},
		{
			name:   "reports imports a projector",
			change: []pkg{p("reports", "projections/clickhouse")},
			// kafka-go comes in through the projector and eventstore.
			want: []string{
				"reports imports projections/clickhouse",
				"reports depends on github.com/segmentio/kafka-go (reports -> projections/clickhouse -> eventstore -> github.com/segmentio/kafka-go)",
			},
		},
		{
			name:   "reports imports kafka-go",
			change: []pkg{p("reports", "github.com/segmentio/kafka-go/protocol")},
			want:   []string{"reports imports github.com/segmentio/kafka-go/protocol"},
		},
		{
			name:   "a package named after another folder",
			change: []pkg{func() pkg { q := p("projections/clickhouse", "eventstore"); q.Name = "chproj"; return q }()},
			want:   []string{"projections/clickhouse is package chproj"},
		},
		{
			name:   "a main package outside cmd",
			change: []pkg{func() pkg { q := p("internal/tools/report"); q.Name = "main"; return q }()},
		},
		{
			name:   "attribution depends on Redis through a package",
			change: []pkg{p("attribution", "schemas", "projections/rediscatalog")},
			want: []string{
				"attribution imports projections/rediscatalog",
				"attribution depends on github.com/redis/go-redis (attribution -> projections/rediscatalog -> github.com/redis/go-redis/v9)",
				"attribution depends on github.com/segmentio/kafka-go (attribution -> projections/rediscatalog -> eventstore -> github.com/segmentio/kafka-go)",
			},
		},
		{
			name:   "catalog depends on franz-go",
			change: []pkg{p("catalog", "schemas", "github.com/twmb/franz-go/pkg/kgo")},
			want:   []string{"catalog imports github.com/twmb/franz-go/pkg/kgo"},
		},
		{
			name:   "money depends on ClickHouse",
			change: []pkg{p("money", "github.com/ClickHouse/clickhouse-go/v2")},
			want: []string{
				"money imports github.com/ClickHouse/clickhouse-go/v2",
				"money depends on github.com/ClickHouse/ch-go (money -> github.com/ClickHouse/clickhouse-go/v2 -> github.com/ClickHouse/ch-go/proto)",
			},
		},
		{
			name:   "promocode depends on net/http",
			change: []pkg{p("promocode", "net/http/httptest")},
			want:   []string{"promocode depends on net/http (promocode -> net/http/httptest -> net/http)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkgs := slices.Clone(base)
			for _, c := range tc.change {
				if i := slices.IndexFunc(pkgs, func(q pkg) bool { return q.ImportPath == c.ImportPath }); i >= 0 {
					pkgs[i] = c
				} else {
					pkgs = append(pkgs, c)
				}
			}
			var got []string
			for _, v := range check(mod, withDeps(pkgs...)) {
				got = append(got, strings.SplitN(v.String(), ": ", 2)[0])
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("violations:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

// TestModule checks the rules over the module's packages, as `go list`
// sees them from the module root.
func TestModule(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the import rules need the go command: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-m", "-json").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", stderrOf(err))
	}
	var m struct{ Path, Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Path == "" || m.Dir == "" {
		t.Fatalf("go list -m -json: %q: %v", out, err)
	}
	cmd := exec.Command(goBin, "list", "-deps", "-json=ImportPath,Name,Imports,Deps,TestImports,XTestImports,DepOnly", "./...")
	cmd.Dir = m.Dir
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./... in %s: %v", m.Dir, stderrOf(err))
	}
	var pkgs []pkg
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var q pkg
		if err := dec.Decode(&q); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, q)
	}
	// The rules must have something to check: the packages they name.
	for _, rel := range []string{"attribution", "attribution/worker", "ingest", "reports", "catalog", "connectors", "money", "promocode"} {
		if !slices.ContainsFunc(pkgs, func(q pkg) bool { return q.ImportPath == m.Path+"/"+rel && !q.DepOnly }) {
			t.Errorf("go list does not list %s/%s: the rules that name it check nothing", m.Path, rel)
		}
	}
	for _, v := range check(m.Path, pkgs) {
		t.Error(v)
	}
}

// stderrOf adds the go command's error output to err.
func stderrOf(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return errors.New(err.Error() + ": " + strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}
