package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/gateway"
	"github.com/junctionhq/junction/internal/testkit"
)

const testAdminKey = "cli-test-admin-key-0123456789"

// startGateway runs a real gateway in process over SQLite in a temp dir.
func startGateway(t *testing.T) string {
	t.Helper()
	return startGatewayWith(t, gateway.Config{DataDir: t.TempDir(), AdminKey: testAdminKey})
}

// startGatewayWith runs a real gateway in process with cfg and returns its URL.
func startGatewayWith(t *testing.T, cfg gateway.Config) string {
	t.Helper()
	gw, err := gateway.New(context.Background(), cfg, gateway.Options{Logger: zerolog.Nop(), Version: "test", Terminal: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	testkit.ShutdownAtEnd(t, 5*time.Second, gw.Shutdown)
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close) // runs before the shutdown above
	return srv.URL
}

type result struct {
	code           int
	stdout, stderr string
}

// cli runs the command line with JUNCTION_ADMIN_KEY set to the test key.
func cli(t *testing.T, args ...string) result {
	t.Helper()
	return cliEnv(t, map[string]string{"JUNCTION_ADMIN_KEY": testAdminKey}, args...)
}

func cliEnv(t *testing.T, envs map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut, func(k string) (string, bool) {
		v, ok := envs[k]
		return v, ok
	})
	return result{code, out.String(), errOut.String()}
}

// mustCLI runs the command line and fails the test unless it succeeds.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	r := cli(t, args...)
	if r.code != exitOK {
		t.Fatalf("junction %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// callerStatus is the status of GET /v1/key with a virtual key.
func callerStatus(t *testing.T, base, secret string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/key", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

var secretRE = regexp.MustCompile(`(?m)^\s*(jk-\S+)\s*$`)

// rowWith returns the first table row whose first cell or second cell is name.
func rowWith(table, name string) []string {
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == name || f[1] == name) {
			return f
		}
	}
	return nil
}

func TestKeysAndTeamsLifecycle(t *testing.T) {
	t.Parallel()
	base := startGateway(t)
	u := "--url=" + base

	out := mustCLI(t, "teams", "create", u, "--name", "eng", "--budget-usd", "25", "--budget-period", "1mo", "--rpm", "60")
	if !strings.Contains(out, `"eng"`) {
		t.Fatalf("teams create output: %q", out)
	}
	out = mustCLI(t, "teams", "list", u)
	if row := rowWith(out, "eng"); !slices.Equal(row, []string{"eng", "$25/1mo", "60", "-", "-", "api"}) {
		t.Fatalf("teams list row %q in:\n%s", row, out)
	}

	out = mustCLI(t, "keys", "create", u, "--name", "ci-bot", "--team", "eng", "--role", "dev", "--model", "gpt-4o",
		"--model", "claude-*", "--tool", "github/*", "--customer", "acme", "--budget-usd", "5", "--budget-period", "1d",
		"--rpm", "10", "--tpm", "1000", "--tool-calls-per-min", "20", "--expires-in", "720h")
	m := secretRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no jk- secret on its own line in:\n%s", out)
	}
	secret := m[1]
	if !strings.Contains(out, "cannot be shown again") || !regexp.MustCompile(`id key_\S+`).MatchString(out) {
		t.Fatalf("create output lacks the note or the id:\n%s", out)
	}
	if got := callerStatus(t, base, secret); got != http.StatusOK {
		t.Fatalf("GET /v1/key with the new secret: %d", got)
	}

	// A second key with defaults, outside the team, to see --team filter.
	mustCLI(t, "keys", "create", u, "--name", "solo")

	out = mustCLI(t, "keys", "list", u)
	row := rowWith(out, "ci-bot")
	if len(row) != 7 || !strings.HasPrefix(row[0], "key_") || row[2] != "eng" || row[3] != "true" || row[6] != "api" ||
		!strings.HasPrefix(row[5], secret[:7]) {
		t.Fatalf("keys list row %q in:\n%s", row, out)
	}
	if exp, err := time.Parse(time.RFC3339, row[4]); err != nil || time.Until(exp) < 719*time.Hour {
		t.Fatalf("expires %q: %v", row[4], err)
	}
	if rowWith(out, "solo") == nil || !strings.HasPrefix(out, "ID ") {
		t.Fatalf("keys list:\n%s", out)
	}
	out = mustCLI(t, "keys", "list", u, "--team", "eng")
	if rowWith(out, "ci-bot") == nil || rowWith(out, "solo") != nil {
		t.Fatalf("keys list --team eng:\n%s", out)
	}

	// show, by name, with the flags after the argument.
	out = mustCLI(t, "keys", "show", "ci-bot", u)
	for _, want := range []string{"ci-bot", "eng", "acme", "gpt-4o,claude-*", "github/*", "dev",
		"BUDGET", "key  ", "team ", "RATE_LIMIT", "tool-calls"} {
		if !strings.Contains(out, want) {
			t.Errorf("keys show lacks %q:\n%s", want, out)
		}
	}

	r := cli(t, "keys", "revoke", u, "ci-bot")
	if r.code != exitOK || !strings.Contains(r.stdout, "Revoked") {
		t.Fatalf("revoke: %+v", r)
	}
	if got := callerStatus(t, base, secret); got != http.StatusUnauthorized {
		t.Fatalf("GET /v1/key after revoke: %d", got)
	}
	r = cli(t, "keys", "revoke", u, "ci-bot")
	if r.code != exitFailed || !strings.Contains(r.stderr, "(HTTP 404)") || !strings.HasPrefix(r.stderr, "junction: ") {
		t.Fatalf("second revoke: %+v", r)
	}
	r = cli(t, "keys", "create", u, "--name", "x", "--team", "nosuch")
	if r.code != exitFailed || !strings.Contains(r.stderr, "nosuch") || !strings.Contains(r.stderr, "(HTTP 400)") {
		t.Fatalf("key in a missing team: %+v", r)
	}
}

func TestJSONOutput(t *testing.T) {
	t.Parallel()
	base := startGateway(t)
	u := "--url=" + base
	mustCLI(t, "teams", "create", u, "--name", "ops")

	var created struct {
		ID, Name, Team, Key string
		Models              []string
	}
	out := mustCLI(t, "keys", "create", u, "--json", "--name", "k1", "--team", "ops", "--expires-at", "2099-01-02T03:04:05Z")
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("keys create --json: %v\n%s", err, out)
	}
	if !strings.HasPrefix(created.Key, "jk-") || created.Name != "k1" || created.Team != "ops" || !slices.Equal(created.Models, []string{"*"}) {
		t.Fatalf("created: %+v", created)
	}
	for _, args := range [][]string{
		{"keys", "list"}, {"teams", "list"}, {"keys", "show", created.ID}, {"usage"}, {"usage", "--group-by", "day"},
	} {
		out := mustCLI(t, append(args, u, "--json")...)
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Errorf("%v --json is not a JSON object: %v\n%s", args, err, out)
		}
	}
	if out := mustCLI(t, "keys", "revoke", created.ID, u, "--json"); out != "" {
		t.Errorf("revoke --json printed %q for a 204", out)
	}
}

func TestUsageWithNoData(t *testing.T) {
	t.Parallel()
	base := startGateway(t)
	u := "--url=" + base
	for _, args := range [][]string{
		{"usage", u},
		{"usage", u, "--group-by", "model", "--from", "2024-01-01", "--to", "2030-01-01T00:00:00Z", "--key", "k", "--team", "t",
			"--model", "m", "--tool", "x"},
	} {
		out := mustCLI(t, args...)
		if !strings.Contains(out, "GROUP") && !strings.Contains(out, "No usage") {
			t.Errorf("%v: %q", args, out)
		}
	}
	r := cli(t, "usage", u, "--group-by", "colour")
	if r.code != exitFailed || !strings.Contains(r.stderr, "group_by must be one of") || !strings.Contains(r.stderr, "(HTTP 400)") {
		t.Fatalf("bad group-by: %+v", r)
	}
}

func TestAdminErrors(t *testing.T) {
	t.Parallel()
	base := startGateway(t)

	r := cliEnv(t, nil, "keys", "list", "--url", base, "--admin-key", "wrong-admin-key-0000000")
	if r.code != exitFailed || r.stderr != "junction: invalid admin key (HTTP 401)\n" {
		t.Fatalf("wrong admin key: %+v", r)
	}
	// The flag wins over the environment.
	r = cli(t, "teams", "list", "--url", base, "--admin-key", "wrong-admin-key-0000000")
	if r.code != exitFailed || !strings.Contains(r.stderr, "(HTTP 401)") {
		t.Fatalf("flag over env: %+v", r)
	}
	r = cliEnv(t, nil, "keys", "list", "--url", base)
	if r.code != exitUsage || !strings.Contains(r.stderr, "JUNCTION_ADMIN_KEY") {
		t.Fatalf("missing admin key: %+v", r)
	}

	// Nothing listens on a port just released.
	srv := httptest.NewServer(http.NotFoundHandler())
	dead := srv.URL
	srv.Close()
	r = cli(t, "keys", "list", "--url", dead)
	if r.code != exitFailed || !strings.Contains(r.stderr, "cannot reach the gateway at "+dead) || !strings.Contains(r.stderr, "junction serve") {
		t.Fatalf("unreachable: %+v", r)
	}
	if r.stdout != "" {
		t.Fatalf("unreachable printed to stdout: %q", r.stdout)
	}
}

func TestAdminUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"keys"},
		{"keys", "frob"},
		{"teams", "list", "extra"},
		{"keys", "list", "--no-such-flag"},
		{"keys", "create"}, // --name is required
		{"keys", "create", "--name", "k", "--rpm", "lots"},
		{"keys", "create", "--name", "k", "--expires-in", "1h", "--expires-at", "2030-01-01T00:00:00Z"},
		{"keys", "create", "--name", "k", "--expires-at", "tomorrow"},
		{"keys", "create", "--name", "k", "--expires-in", "0s"},
		{"keys", "create", "--name", "k", "--expires-in", "-1h"},
		{"keys", "create", "--name", "k", "--budget-period", "1d"},
		{"keys", "revoke"},
		{"keys", "show", "a", "b"},
		{"teams", "create", "--name", "t", "--budget-usd", "many"},
		{"usage", "--url", "ftp://example.com"},
	} {
		r := cli(t, args...)
		if r.code != exitUsage || (!strings.Contains(r.stderr, "Usage") && !strings.Contains(r.stderr, "must be")) {
			t.Errorf("%v: exit %d, stderr:\n%s", args, r.code, r.stderr)
		}
	}
	for _, args := range [][]string{{"keys", "help"}, {"teams", "--help"}, {"keys", "create", "-h"}, {"usage", "--help"}} {
		if r := cli(t, args...); r.code != exitOK {
			t.Errorf("%v: exit %d", args, r.code)
		}
	}
	// The admin key never shows in the help's defaults.
	if r := cli(t, "keys", "list", "--help"); strings.Contains(r.stderr, testAdminKey) || !strings.Contains(r.stderr, "-admin-key") {
		t.Errorf("help:\n%s", r.stderr)
	}
}

func TestParseInterspersed(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	a := fs.String("a", "", "")
	b := fs.Bool("b", false, "")
	got, err := parseInterspersed(fs, []string{"x", "-a", "1", "y", "-b", "--", "-z", "w"})
	if err != nil || *a != "1" || !*b || !slices.Equal(got, []string{"x", "y", "-z", "w"}) {
		t.Fatalf("got %q a=%q b=%v err=%v", got, *a, *b, err)
	}
}

func TestAPIErrorWithoutTheGatewayShape(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testAdminKey {
			t.Errorf("authorization header %q", r.Header.Get("Authorization"))
		}
		http.Error(w, "upstream proxy exploded", http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	r := cli(t, "teams", "list", "--url", strings.TrimPrefix(srv.URL, "http://")) // no scheme means http
	if r.code != exitFailed || r.stderr != "junction: upstream proxy exploded (HTTP 502)\n" {
		t.Fatalf("%+v", r)
	}
}
