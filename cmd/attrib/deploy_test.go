package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The container files cannot be run on the machines the tests run on (no
// image can be pulled there), so these tests read them as the binary
// would: every ATTRIB_* variable they set must be a setting of newConfig,
// every command line must parse with the binary's own flags into a valid
// configuration, every --components value must be a component, and the
// ports, probes, users and names must agree across the files.

// deployDir is the repository's deploy/ folder, seen from cmd/attrib.
const deployDir = repoRoot + "/deploy"

// imageUID is the user the image runs as (deploy/docker/Dockerfile's USER):
// distroless' nonroot, never root.
const imageUID = 65532

// settingsByEnv maps each environment variable of the configuration table
// to its setting.
func settingsByEnv() map[string]*setting {
	m := map[string]*setting{}
	for _, s := range newConfig().settings {
		m[s.env] = s
	}
	return m
}

// parseCommandLine parses args (a subcommand and its flags, as a container
// passes them to the binary) with getenv as the environment, the way
// runContext does: the subcommand's own flags, the settings' flags and
// their environment fallbacks, then the validation of every setting.
func parseCommandLine(args []string, getenv func(string) string) (*engineConfig, []string, error) {
	if len(args) == 0 {
		return nil, nil, errors.New("no subcommand")
	}
	var cmd *command
	for _, c := range subcommands() {
		if c.name == args[0] {
			cmd = &c
			break
		}
	}
	if cmd == nil || cmd.run == nil {
		return nil, nil, fmt.Errorf("%q is not a subcommand that runs", args[0])
	}
	cfg := newConfig()
	fs := flag.NewFlagSet("attrib "+args[0], flag.ContinueOnError)
	var flagErrs bytes.Buffer
	fs.SetOutput(&flagErrs)
	cfg.bind(fs, getenv)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	positional, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return nil, nil, fmt.Errorf("flags of %v: %w", args, err)
	}
	ec, err := cfg.parse()
	if err != nil {
		return nil, nil, fmt.Errorf("configuration of %v: %w", args, err)
	}
	return ec, positional, nil
}

// httpPort is the port of --http-addr in ec.
func httpPort(t *testing.T, ec *engineConfig) int {
	t.Helper()
	_, p, err := net.SplitHostPort(ec.HTTPAddr)
	if err != nil {
		t.Fatalf("http-addr %q: %v", ec.HTTPAddr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("http-addr %q: %v", ec.HTTPAddr, err)
	}
	return n
}

// onlyComponent is the one component a serve process runs.
func onlyComponent(t *testing.T, where string, ec *engineConfig) string {
	t.Helper()
	if len(ec.Components) != 1 {
		t.Errorf("%s: runs %d components (%v), want one of its own", where, len(ec.Components), ec.Components)
		return ""
	}
	for name := range ec.Components {
		return name
	}
	return ""
}

// checkEnvNames fails for each ATTRIB_* name that is not a setting, and
// for any other name not in allowed.
func checkEnvNames(t *testing.T, where string, names []string, allowed ...string) {
	t.Helper()
	settings := settingsByEnv()
	for _, n := range names {
		if strings.HasPrefix(n, "ATTRIB_") {
			if settings[n] == nil {
				t.Errorf("%s sets %s, which is no setting of the binary (attrib config lists them)", where, n)
			}
			continue
		}
		if !slices.Contains(allowed, n) {
			t.Errorf("%s sets %s, which the engine does not read (allowed besides settings: %v)", where, n, allowed)
		}
	}
}

// readEnvFile reads KEY=VALUE lines, skipping blank lines and comments, in
// order.
func readEnvFile(t *testing.T, path string) (keys []string, values map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	values = map[string]string{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		if !ok || k == "" {
			t.Fatalf("%s:%d: want KEY=VALUE, got %q", path, line, text)
		}
		if _, dup := values[k]; dup {
			t.Errorf("%s:%d: %s set twice", path, line, k)
		}
		keys = append(keys, k)
		values[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return keys, values
}

// dockerInstruction is one instruction of a Dockerfile, as the test reads it:
// its name and arguments, continuation lines joined, comments dropped.
type dockerInstruction struct {
	cmd  string // upper case
	args string
}

// readDockerfile returns the instructions of the Dockerfile at path.
func readDockerfile(t *testing.T, path string) []dockerInstruction {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstruction
	var cur strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			continue
		}
		cmd, args, _ := strings.Cut(text, " ")
		out = append(out, dockerInstruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
	}
	return out
}

// execForm decodes an instruction's JSON array (exec form); the shell form
// would need a shell, which the runtime image does not have.
func execForm(t *testing.T, ins dockerInstruction) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(ins.args), &argv); err != nil {
		t.Fatalf("%s %s: want the exec form, a JSON array (the image has no shell): %v", ins.cmd, ins.args, err)
	}
	return argv
}

// goVersionAtLeast reports whether version have (1.26.8) is at least want.
func goVersionAtLeast(have, want string) bool {
	hp, wp := strings.Split(have, "."), strings.Split(want, ".")
	for i := 0; i < len(wp); i++ {
		var h int
		if i < len(hp) {
			h, _ = strconv.Atoi(hp[i])
		}
		w, _ := strconv.Atoi(wp[i])
		if h != w {
			return h > w
		}
	}
	return true
}

// TestDockerfile checks deploy/docker/Dockerfile: a Go toolchain the module
// accepts, a static, trimmed and stamped build, a non-root user, the
// HTTP port exposed, and a health check on /readyz that the binary's own
// healthcheck command runs.
func TestDockerfile(t *testing.T) {
	instructions := readDockerfile(t, filepath.Join(deployDir, "docker", "Dockerfile"))

	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	modGo := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if modGo == nil {
		t.Fatal("go.mod has no go directive")
	}

	var (
		froms, runs []string
		user        string
		exposed     []string
		env         = map[string]string{}
		envNames    []string
		goVersion   string
		health      []string
		entrypoint  []string
		cmdArgs     []string
		copiedTo    []string
	)
	for _, ins := range instructions {
		switch ins.cmd {
		case "ARG":
			if v, ok := strings.CutPrefix(ins.args, "GO_VERSION="); ok {
				goVersion = v
			}
		case "FROM":
			froms = append(froms, ins.args)
		case "RUN":
			runs = append(runs, ins.args)
		case "USER":
			user = ins.args
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(ins.args)...)
		case "ENV":
			for _, kv := range strings.Fields(ins.args) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("ENV %s: want KEY=VALUE pairs", ins.args)
				}
				env[k] = v
				envNames = append(envNames, k)
			}
		case "HEALTHCHECK":
			i := strings.Index(ins.args, "CMD ")
			if i < 0 {
				t.Fatalf("HEALTHCHECK %s: no CMD", ins.args)
			}
			health = execForm(t, dockerInstruction{cmd: "HEALTHCHECK CMD", args: ins.args[i+len("CMD "):]})
		case "ENTRYPOINT":
			entrypoint = execForm(t, ins)
		case "CMD":
			cmdArgs = execForm(t, ins)
		case "COPY":
			f := strings.Fields(ins.args)
			copiedTo = append(copiedTo, f[len(f)-1])
		}
	}

	if goVersion == "" || !goVersionAtLeast(goVersion, string(modGo[1])) {
		t.Errorf("ARG GO_VERSION=%q: want at least go.mod's go %s", goVersion, modGo[1])
	}
	if len(froms) < 2 || !strings.Contains(froms[0], "golang:${GO_VERSION}") {
		t.Errorf("FROM %v: want a golang:${GO_VERSION} build stage, then the runtime stage", froms)
	}
	if last := froms[len(froms)-1]; !strings.HasPrefix(last, "gcr.io/distroless/static") {
		t.Errorf("runtime stage FROM %s: want distroless static (CA certificates, no shell)", last)
	}
	build := ""
	for _, r := range runs {
		if strings.Contains(r, "go build") {
			build = r
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "./cmd/attrib", "-tags timetzdata"} {
		if !strings.Contains(build, want) {
			t.Errorf("the go build step lacks %q: %s", want, build)
		}
	}
	if want := fmt.Sprintf("%d:%d", imageUID, imageUID); user != want {
		t.Errorf("USER %q, want %q (numeric, so that Kubernetes' runAsNonRoot can check it)", user, want)
	}

	checkEnvNames(t, "Dockerfile ENV", envNames)
	ec, _, err := parseCommandLine([]string{"serve"}, env2(env))
	if err != nil {
		t.Fatalf("the image's environment: %v", err)
	}
	if want := []string{strconv.Itoa(httpPort(t, ec))}; !slices.Equal(exposed, want) {
		t.Errorf("EXPOSE %v, want %v (the port of ATTRIB_HTTP_ADDR)", exposed, want)
	}
	if ec.DataDir != "/var/lib/attrib" || !slices.Contains(copiedTo, ec.DataDir) {
		t.Errorf("the data directory %s: want /var/lib/attrib, created in the image for the user (COPY destinations %v)", ec.DataDir, copiedTo)
	}

	if len(entrypoint) != 1 || !slices.Contains(copiedTo, entrypoint[0]) {
		t.Fatalf("ENTRYPOINT %v: want the binary the image copies (%v)", entrypoint, copiedTo)
	}
	if _, _, err := parseCommandLine(cmdArgs, env2(env)); err != nil || !slices.Equal(cmdArgs, []string{"serve"}) {
		t.Errorf("CMD %v: want [serve] (%v)", cmdArgs, err)
	}
	if len(health) < 2 || health[0] != entrypoint[0] {
		t.Fatalf("HEALTHCHECK CMD %v: want the binary %s", health, entrypoint[0])
	}
	if !slices.Equal(health[1:], []string{"healthcheck", "--path", "/readyz"}) {
		t.Errorf("HEALTHCHECK CMD %v: want %s healthcheck --path /readyz", health, entrypoint[0])
	}
	if _, positional, err := parseCommandLine(health[1:], env2(env)); err != nil || len(positional) > 0 {
		t.Errorf("HEALTHCHECK CMD %v does not parse: %v (positional %v)", health, err, positional)
	}
}

// env2 is a getenv over m.
func env2(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestDeployFilesNameRealSettings makes sure the checks above can fail: a
// name that is no setting, a component the binary does not know and a
// flag it does not have are each refused.
func TestDeployFilesNameRealSettings(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown component", []string{"serve", "--components", "attribution-wroker"}, nil, "unknown component"},
		{"unknown flag", []string{"serve", "--http-port", "8080"}, nil, "flags of"},
		{"bad value from the environment", []string{"serve"}, map[string]string{"ATTRIB_HTTP_ADDR": "8080"}, "--http-addr"},
		{"healthcheck flag on serve", []string{"serve", "--path", "/readyz"}, nil, "flags of"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseCommandLine(tc.args, env2(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseCommandLine(%v) = %v, want an error with %q", tc.args, err, tc.want)
			}
		})
	}
	if settingsByEnv()["ATTRIB_HTTP_PORT"] != nil || settingsByEnv()["ATTRIB_HTTP_ADDR"] == nil {
		t.Errorf("settingsByEnv does not reflect the configuration table")
	}
}
