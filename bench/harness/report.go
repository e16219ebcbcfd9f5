package harness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Report is the machine-readable record of one benchmark run: enough to
// reproduce it (command, flags, settings, machine) and every measurement.
type Report struct {
	Name    string            `json:"name"`
	Date    time.Time         `json:"date"`
	Command []string          `json:"command"`
	Flags   map[string]string `json:"flags"`
	Machine Machine           `json:"machine"`
	Load    LoadSettings      `json:"load"`
	Request RequestSettings   `json:"request"`
	Mock    MockSettings      `json:"mock"`
	Results []TargetResult    `json:"results"`
}

// LoadSettings is Load as recorded in a report.
type LoadSettings struct {
	Mode        string `json:"mode"`
	Rate        int    `json:"rate,omitempty"`
	Concurrency int    `json:"concurrency,omitempty"`
	MaxWorkers  int    `json:"max_workers,omitempty"`
	Duration    string `json:"duration"`
	Warmup      string `json:"warmup"`
	Timeout     string `json:"timeout"`
}

// RequestSettings is Request as recorded in a report. The API key itself is
// not recorded.
type RequestSettings struct {
	Path      string `json:"path"`
	Stream    bool   `json:"stream"`
	Body      string `json:"body"`
	APIKeySet bool   `json:"api_key_set"`
}

// MockSettings records how the mock provider was run.
type MockSettings struct {
	Latency string   `json:"latency"`
	Args    []string `json:"args"`
}

// Machine describes where a run happened.
type Machine struct {
	CPUModel    string `json:"cpu_model"`
	Cores       int    `json:"cores"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
	MemoryBytes int64  `json:"memory_bytes"`
	GoVersion   string `json:"go_version"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	Kernel      string `json:"kernel"`
}

func newReport(opts Options) *Report {
	load := opts.Load
	r := &Report{
		Name:    opts.Name,
		Date:    time.Now().UTC().Truncate(time.Second),
		Command: opts.Command,
		Flags:   opts.Flags,
		Machine: DescribeMachine(),
		Load: LoadSettings{
			Mode:        load.Mode(),
			Rate:        load.Rate,
			Concurrency: load.Concurrency,
			Duration:    load.Duration.String(),
			Warmup:      load.Warmup.String(),
			Timeout:     load.Timeout.String(),
		},
		Request: RequestSettings{
			Path:      opts.Request.Path,
			Stream:    opts.Request.Stream,
			Body:      string(opts.Request.Body),
			APIKeySet: opts.Request.APIKey != "",
		},
		Mock: MockSettings{Latency: opts.Mock.Latency.String(), Args: opts.Mock.Args},
	}
	if load.Rate > 0 {
		r.Load.MaxWorkers = load.maxWorkers()
	}
	if r.Mock.Args == nil {
		r.Mock.Args = []string{}
	}
	return r
}

// WriteJSON writes the report, indented, to path, creating its directory.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// DescribeMachine reads the CPU model and memory from /proc and the rest from
// the Go runtime. What cannot be read is left empty.
func DescribeMachine() Machine {
	m := Machine{
		Cores:      runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
	}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if m.CPUModel == "" {
		m.CPUModel = procField("/proc/cpuinfo", "Hardware") // some ARM kernels
	}
	if kb, err := parseKB(procField("/proc/meminfo", "MemTotal")); err == nil {
		m.MemoryBytes = kb
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc file
// whose key is key, or "".
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// formatMicros renders a latency for people: "850µs", "12.3ms", "1.20s".
func formatMicros(us float64) string {
	switch {
	case us < 1000:
		return strconv.FormatFloat(us, 'f', 0, 64) + "µs"
	case us < 1_000_000:
		return strconv.FormatFloat(us/1000, 'f', 2, 64) + "ms"
	default:
		return strconv.FormatFloat(us/1_000_000, 'f', 2, 64) + "s"
	}
}

// formatBytes renders a size in MiB: "23.4 MiB".
func formatBytes(b int64) string {
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB"
}
