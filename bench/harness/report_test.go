package harness

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	r := newReport(Options{
		Name:    "c50-latency0s",
		Load:    Load{Concurrency: 50, Duration: 15 * time.Second, Warmup: time.Second, Timeout: 10 * time.Second},
		Request: Request{Path: ChatCompletionsPath, Body: []byte(`{"model":"gpt-4o-mini"}`), APIKey: "secret-key"},
		Mock:    MockOptions{Latency: 20 * time.Millisecond},
		Command: []string{"bench", "--concurrency", "50"},
		Flags:   map[string]string{"concurrency": "50"},
	})
	direct := summaryWith(10000, 400, 400, 1000)
	direct.Errors = []ErrorCount{}
	baseline := summaryWith(8000, 600, 500, 2000)
	baseline.Failures = 3
	baseline.Errors = []ErrorCount{{Message: "503 Service Unavailable", Count: 3}}
	r.Results = []TargetResult{
		{Target: DirectTarget, OK: true, Summary: direct, Process: &ProcessStats{Role: "mock", PeakRSSBytes: 20 << 20, CPUCores: 0.9}},
		{Target: BaselineTarget, OK: true, Summary: baseline,
			Process:  &ProcessStats{Role: "baseline", PeakRSSBytes: 12 << 20, CPUCores: 0.5},
			Upstream: &ProcessStats{Role: "mock", CPUCores: 0.8, Warnings: []string{"peak RSS not reset"}}},
		{Target: JunctionTarget, Failure: "preflight: junction: POST /v1/chat/completions returned 404 — the LLM endpoint is not built yet"},
	}
	Compare(r.Results)
	return r
}

func TestReportJSONRoundTrip(t *testing.T) {
	r := sampleReport()
	path := filepath.Join(t.TempDir(), "results", "run.json")
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("secret-key")) {
		t.Error("the API key leaked into the report")
	}
	var got Report
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "c50-latency0s" || got.Load.Mode != "concurrency" || got.Load.Concurrency != 50 || got.Load.Duration != "15s" {
		t.Errorf("load settings = %+v", got.Load)
	}
	if got.Mock.Latency != "20ms" || !got.Request.APIKeySet || got.Request.Body != `{"model":"gpt-4o-mini"}` {
		t.Errorf("mock %+v request %+v", got.Mock, got.Request)
	}
	if got.Machine.Cores <= 0 || got.Machine.GoVersion == "" {
		t.Errorf("machine = %+v", got.Machine)
	}
	if len(got.Results) != 3 || got.Results[1].VsDirect == nil || got.Results[1].VsDirect.P99Ratio != 2 {
		t.Errorf("results = %+v", got.Results)
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"date", "command", "flags", "machine", "load", "request", "mock", "results"} {
		if _, ok := generic[key]; !ok {
			t.Errorf("report has no %q", key)
		}
	}
}

func TestWriteTable(t *testing.T) {
	r := sampleReport()
	for _, markdown := range []bool{false, true} {
		var b strings.Builder
		if err := r.WriteTable(&b, markdown); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, want := range []string{
			"c50-latency0s — concurrency 50 for 15s, mock latency 20ms",
			"p50 ×direct",
			"20.0 MiB", // direct's peak RSS
			"1.25",     // baseline p50 ratio
			"+1000",    // baseline added p99 µs
			"junction failed: preflight: junction: POST /v1/chat/completions returned 404",
			"baseline: 3× 503 Service Unavailable",
			"baseline: mock: peak RSS not reset",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("markdown=%v: table lacks %q:\n%s", markdown, want, out)
			}
		}
		if markdown && !strings.Contains(out, "| target | requests |") {
			t.Errorf("markdown table header missing:\n%s", out)
		}
		if markdown && !strings.Contains(out, "| junction | FAILED |") {
			t.Errorf("failed row missing:\n%s", out)
		}
	}
}

func TestWriteTableWithoutDirect(t *testing.T) {
	r := sampleReport()
	r.Results = r.Results[1:2]
	Compare(r.Results)
	var b strings.Builder
	if err := r.WriteTable(&b, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "no ratios") {
		t.Errorf("table does not say why ratios are missing:\n%s", b.String())
	}
}

func TestFormatMicros(t *testing.T) {
	tests := []struct {
		us   float64
		want string
	}{
		{0, "0µs"},
		{850.4, "850µs"},
		{1000, "1.00ms"},
		{12345, "12.35ms"},
		{2_500_000, "2.50s"},
	}
	for _, tt := range tests {
		if got := formatMicros(tt.us); got != tt.want {
			t.Errorf("formatMicros(%v) = %q, want %q", tt.us, got, tt.want)
		}
	}
}

func TestDescribeMachine(t *testing.T) {
	m := DescribeMachine()
	if m.Cores <= 0 || m.GOMAXPROCS <= 0 || m.GoVersion == "" || m.OS == "" || m.Arch == "" {
		t.Errorf("machine = %+v", m)
	}
	if _, err := os.Stat("/proc/meminfo"); err == nil && m.MemoryBytes <= 0 {
		t.Errorf("memory not read from /proc/meminfo: %+v", m)
	}
}
