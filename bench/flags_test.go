package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	bodyFile := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(bodyFile, []byte(`{"model":"x","messages":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		want  string // substring of the error; empty means valid
		check func(t *testing.T, c config)
	}{
		{
			name: "defaults",
			args: nil,
			check: func(t *testing.T, c config) {
				o := c.options
				if o.Load.Concurrency != defaultConcurrency || o.Load.Rate != 0 || o.Load.Duration != 10*time.Second {
					t.Errorf("load = %+v", o.Load)
				}
				if !slices.Equal(o.Targets, []string{"direct", "baseline", "junction"}) {
					t.Errorf("targets = %v", o.Targets)
				}
				if o.Name != "c10-latency0s" {
					t.Errorf("name %q", o.Name)
				}
				if want := filepath.Join(o.RepoDir, "bench", "junction.yaml"); o.Junction.ConfigPath != want {
					t.Errorf("config %q, want %q", o.Junction.ConfigPath, want)
				}
				if _, err := os.Stat(o.Junction.ConfigPath); err != nil {
					t.Errorf("default config: %v", err)
				}
				var body map[string]any
				if err := json.Unmarshal(o.Request.Body, &body); err != nil || body["stream"] != false || body["model"] != "gpt-4o-mini" {
					t.Errorf("default body = %s (%v)", o.Request.Body, err)
				}
				// The tests run in bench/, a module of its own: the repository
				// root is the directory above, past bench/go.mod.
				if wd, err := os.Getwd(); err != nil || o.RepoDir != filepath.Dir(wd) {
					t.Errorf("repo dir = %q, want the parent of %q (%v)", o.RepoDir, wd, err)
				}
			},
		},
		{
			name: "constant rate with stream and body",
			args: []string{"--rate", "500", "--duration", "3s", "--stream", "--body", bodyFile, "--targets", "direct, baseline", "--mock-latency", "20ms", "--mock-arg=--jitter=1ms", "--mock-arg", "--x"},
			check: func(t *testing.T, c config) {
				o := c.options
				if o.Load.Rate != 500 || o.Load.Concurrency != 0 || o.Load.Mode() != "rate" {
					t.Errorf("load = %+v", o.Load)
				}
				if !o.Request.Stream || !strings.Contains(string(o.Request.Body), `"stream":true`) || !strings.Contains(string(o.Request.Body), `"model":"x"`) {
					t.Errorf("request = %+v body %s", o.Request, o.Request.Body)
				}
				if !slices.Equal(o.Targets, []string{"direct", "baseline"}) {
					t.Errorf("targets = %v", o.Targets)
				}
				if o.Mock.Latency != 20*time.Millisecond || !slices.Equal(o.Mock.Args, []string{"--jitter=1ms", "--x"}) {
					t.Errorf("mock = %+v", o.Mock)
				}
				if o.Name != "r500-latency20ms-stream" {
					t.Errorf("name = %q", o.Name)
				}
			},
		},
		{
			name: "key is redacted from the record",
			args: []string{"--key", "jk-secret", "--concurrency", "2"},
			check: func(t *testing.T, c config) {
				if c.options.Request.APIKey != "jk-secret" {
					t.Errorf("api key = %q", c.options.Request.APIKey)
				}
				rec := strings.Join(c.options.Command, " ") + " " + c.options.Flags["key"]
				if strings.Contains(rec, "jk-secret") {
					t.Errorf("key recorded: %s", rec)
				}
			},
		},
		{
			name: "a given junction config is kept as given",
			args: []string{"--junction-config", "my/junction.yaml"},
			check: func(t *testing.T, c config) {
				if got := c.options.Junction.ConfigPath; got != "my/junction.yaml" {
					t.Errorf("config = %q", got)
				}
			},
		},
		{name: "rate and concurrency", args: []string{"--rate", "5", "--concurrency", "5"}, want: "exclusive"},
		{name: "unknown target", args: []string{"--targets", "direct,nginx"}, want: `unknown target "nginx"`},
		{name: "duplicate target", args: []string{"--targets", "direct,direct"}, want: "given twice"},
		{name: "bad format", args: []string{"--format", "html"}, want: "--format"},
		{name: "missing body", args: []string{"--body", "/nonexistent/body.json"}, want: "--body"},
		{name: "positional", args: []string{"extra"}, want: "unexpected arguments"},
		{name: "unknown flag", args: []string{"--nope"}, want: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(append([]string{"/tmp/go-build/bench"}, tt.args...))
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("parseFlags() = %v, want an error about %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.options.Command[0] != "bench" {
				t.Errorf("command = %v", c.options.Command)
			}
			tt.check(t, c)
		})
	}
}

func TestRedactKey(t *testing.T) {
	got := redactKey([]string{"--key", "a", "-key=b", "--key=c", "--name", "key", "-key"})
	want := []string{"--key", "(redacted)", "-key=(redacted)", "--key=(redacted)", "--name", "key", "-key"}
	if !slices.Equal(got, want) {
		t.Errorf("redactKey = %v, want %v", got, want)
	}
}
