package importrules

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// pkg is what the rules read of one package of `go list -deps -json`.
type pkg struct {
	ImportPath string
	Name       string
	// Imports are the direct imports of the non-test files; Deps are all
	// their dependencies, transitively.
	Imports []string
	Deps    []string
	// TestImports and XTestImports are listed to be ignored: a test may
	// use the real adapters.
	TestImports  []string
	XTestImports []string
	// DepOnly marks a package that is only a dependency of the module's
	// packages (the standard library, other modules).
	DepOnly bool
}

// violation is one broken rule: pkg is named name (when name is set), or
// imports (or, when via is not empty, depends through via on) dep.
type violation struct {
	pkg, name, dep string
	via            []string
	rule           string
}

func (v violation) String() string {
	if v.name != "" {
		return fmt.Sprintf("%s is package %s: %s", v.pkg, v.name, v.rule)
	}
	if len(v.via) == 0 {
		return fmt.Sprintf("%s imports %s: %s", v.pkg, v.dep, v.rule)
	}
	return fmt.Sprintf("%s depends on %s (%s): %s", v.pkg, v.dep, strings.Join(v.via, " -> "), v.rule)
}

// rule forbids the packages it applies to (by path relative to the
// module) some imports (direct) or dependencies (not direct).
type rule struct {
	why     string
	applies func(rel string) bool
	direct  bool
	// forbidden returns, for a dependency (module-relative when in the
	// module), what it breaks the rule as: the client's module path for a
	// dependency inside a client, so that its many packages are one
	// violation. ok is false for an allowed dependency.
	forbidden func(dep string) (as string, ok bool)
}

// Third-party clients of the servers the pure core must not talk to.
var (
	kafkaClients = []string{"github.com/segmentio/kafka-go", "github.com/twmb/franz-go", "github.com/IBM/sarama",
		"github.com/Shopify/sarama", "github.com/confluentinc/confluent-kafka-go"}
	redisClients      = []string{"github.com/redis/go-redis", "github.com/go-redis/redis", "github.com/gomodule/redigo", "github.com/redis/rueidis"}
	clickhouseClients = []string{"github.com/ClickHouse/clickhouse-go", "github.com/ClickHouse/ch-go"}
)

var rules = []rule{
	{
		why:       "a port under attribution/ or in ingest speaks its own types; the adapter in projections/ converts",
		applies:   func(rel string) bool { return within(rel, "attribution") || within(rel, "ingest") },
		direct:    true,
		forbidden: underProjections,
	},
	{
		why:     "reports reads ClickHouse: it must not pull in the projectors or the Kafka client",
		applies: func(rel string) bool { return within(rel, "reports") },
		forbidden: func(dep string) (string, bool) {
			if as, ok := underProjections(dep); ok {
				return as, ok
			}
			return inAny(dep, []string{"github.com/segmentio/kafka-go"})
		},
	},
	{
		why: "the pure core makes no I/O: no Kafka, Redis or ClickHouse client, no net/http",
		applies: func(rel string) bool {
			return slices.Contains([]string{"attribution", "catalog", "connectors", "money", "promocode"}, rel)
		},
		forbidden: func(dep string) (string, bool) {
			return inAny(dep, slices.Concat(kafkaClients, redisClients, clickhouseClients, []string{"net/http"}))
		},
	},
}

// check returns the violations of the rules by the module's packages
// (those of pkgs that are not DepOnly); pkgs should hold their
// dependencies too, for the chains of indirect ones. module is the module
// path.
func check(module string, pkgs []pkg) []violation {
	byPath := make(map[string]pkg, len(pkgs))
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	rel := func(importPath string) string {
		if importPath == module {
			return "."
		}
		if r, ok := strings.CutPrefix(importPath, module+"/"); ok {
			return r
		}
		return importPath
	}
	var out []violation
	for _, p := range pkgs {
		if p.DepOnly {
			continue
		}
		r := rel(p.ImportPath)
		if p.Name != "main" && p.Name != path.Base(p.ImportPath) {
			out = append(out, violation{pkg: r, name: p.Name,
				rule: "a package's name is its folder's (" + path.Base(p.ImportPath) + ")"})
		}
		for _, ru := range rules {
			if !ru.applies(r) {
				continue
			}
			deps := p.Deps
			if ru.direct {
				deps = p.Imports
			}
			seen := make(map[string]bool)
			for _, d := range deps {
				as, ok := ru.forbidden(rel(d))
				if !ok || seen[as] {
					continue
				}
				seen[as] = true
				v := violation{pkg: r, dep: rel(d), rule: ru.why}
				if !slices.Contains(p.Imports, d) {
					v.dep = as
					for _, step := range chain(byPath, p.ImportPath, d) {
						v.via = append(v.via, rel(step))
					}
				}
				out = append(out, v)
			}
		}
	}
	return out
}

// within reports whether the module-relative path rel is dir or under it.
func within(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

// underProjections forbids the module's packages under projections/.
func underProjections(dep string) (string, bool) {
	if strings.HasPrefix(dep, "projections/") {
		return dep, true
	}
	return "", false
}

// inAny returns the module (or standard library package) of roots that
// dep is, or is under.
func inAny(dep string, roots []string) (string, bool) {
	for _, r := range roots {
		if within(dep, r) {
			return r, true
		}
	}
	return "", false
}

// chain returns the shortest import chain from one package to another,
// both ends included, or just the two ends when pkgs does not link them.
func chain(pkgs map[string]pkg, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var out []string
			for ; p != ""; p = prev[p] {
				out = append(out, p)
			}
			slices.Reverse(out)
			return out
		}
		for _, next := range pkgs[p].Imports {
			if _, ok := prev[next]; !ok {
				prev[next] = p
				queue = append(queue, next)
			}
		}
	}
	return []string{from, to}
}
