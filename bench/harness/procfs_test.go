package harness

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseMemStatus(t *testing.T) {
	const status = `Name:	mockprovider
Umask:	0022
State:	S (sleeping)
VmPeak:	 1262380 kB
VmSize:	 1262380 kB
VmHWM:	   23456 kB
VmRSS:	   12345 kB
Threads:	7
`
	st, err := parseMemStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	if st.PeakRSS != 23456*1024 || st.RSS != 12345*1024 {
		t.Errorf("parsed %+v, want HWM 23456 kB and RSS 12345 kB in bytes", st)
	}

	bad := []struct{ name, text string }{
		{"zombie without memory lines", "Name:\tx\nState:\tZ (zombie)\n"},
		{"unit missing", "VmHWM:\t12\nVmRSS:\t10 kB\n"},
		{"not a number", "VmHWM:\tmany kB\nVmRSS:\t10 kB\n"},
		{"negative", "VmHWM:\t-1 kB\nVmRSS:\t10 kB\n"},
		{"only HWM", "VmHWM:\t12 kB\n"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseMemStatus(strings.NewReader(tt.text)); err == nil {
				t.Error("want an error")
			}
		})
	}
}

func TestParseCPUTime(t *testing.T) {
	tests := []struct {
		name string
		stat string
		want time.Duration
		ok   bool
	}{
		{
			name: "plain",
			stat: "1234 (mockprovider) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 7 0 100 1000 300 18446744073709551615",
			want: 4 * time.Second, ok: true, // (250+150) ticks / 100 Hz
		},
		{
			name: "command with spaces and parentheses",
			stat: "99 (a) b (c)) R 1 99 99 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 1 1",
			want: 100 * time.Millisecond, ok: true,
		},
		{name: "truncated", stat: "99 (x) R 1 2 3"},
		{name: "no command", stat: "99 x R 1 2 3 4 5 6 7 8 9 10 11 12 13"},
		{name: "garbage counters", stat: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 a b 0 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPUTime([]byte(tt.stat))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if got != tt.want {
				t.Errorf("cpu = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestProbeSelf measures this test process through /proc, the way the
// harness measures its children.
func TestProbeSelf(t *testing.T) {
	pid := os.Getpid()
	if _, err := readMemStatus(pid); err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	p := startProbe("self", pid, 5*time.Millisecond)
	burn := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(burn) { // use some CPU so CPU time moves
	}
	st := p.finish()
	if again := p.finish(); again.PID != st.PID || again.RSSSamples != st.RSSSamples {
		t.Error("finish is not idempotent")
	}
	if st.PeakRSSBytes <= 0 || st.SampledRSSMaxBytes <= 0 || st.SampledRSSMeanBytes <= 0 || st.RSSSamples == 0 {
		t.Errorf("stats %+v, want peak and sampled RSS", st)
	}
	if st.VmHWMBytes <= 0 || st.PeakRSSBytes != max(st.VmHWMBytes, st.SampledRSSMaxBytes) {
		t.Errorf("peak %d, want max(VmHWM %d, sampled max %d)", st.PeakRSSBytes, st.VmHWMBytes, st.SampledRSSMaxBytes)
	}
	if st.CPUSeconds <= 0 || st.CPUCores <= 0 {
		t.Errorf("cpu %v s (%v cores), want > 0 after busy work", st.CPUSeconds, st.CPUCores)
	}
}

func TestProbeWithoutPID(t *testing.T) {
	st := startProbe("none", 0, time.Millisecond).finish()
	if st.RSSSamples != 0 || st.PeakRSSBytes != 0 || len(st.Warnings) != 0 {
		t.Errorf("stats %+v, want an empty probe", st)
	}
}

func TestProbeOfVanishedProcessWarns(t *testing.T) {
	// PIDs are at most 2^22 on Linux, so this one cannot exist.
	st := startProbe("ghost", 1<<23, time.Millisecond).finish()
	if len(st.Warnings) == 0 {
		t.Error("want warnings for a process that does not exist")
	}
}

func TestParseCPUStat(t *testing.T) {
	st, err := parseCPUStat("cpu  100 5 50 800 20 3 2 10 7 0\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := (cpuStat{busy: 100 + 5 + 50 + 3 + 2 + 10, idle: 800 + 20, irq: 3 + 2, steal: 10}); st != want {
		t.Errorf("parsed %+v, want %+v", st, want)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 3", "cpu 1 2 x 4 5 6 7 8"} {
		if _, err := parseCPUStat(bad); err == nil {
			t.Errorf("parseCPUStat(%q) = nil error, want one", bad)
		}
	}
}

func TestMachineProbe(t *testing.T) {
	if _, err := readCPUStat(); err != nil {
		t.Skipf("no /proc/stat: %v", err)
	}
	p := startMachineProbe()
	burn := time.Now().Add(30 * time.Millisecond)
	for time.Now().Before(burn) {
	}
	m := p.finish(4, 100) // measured more than the machine did: other is clamped at 0
	if m == nil {
		t.Fatal("no machine CPU")
	}
	if m.Cores != 4 || m.BusyCores <= 0 || m.BusyCores > 4 || m.OtherCores != 0 || m.StealCores < 0 || m.IRQCores < 0 || m.IRQCores > m.BusyCores {
		t.Errorf("machine CPU %+v", m)
	}
	if broken := (machineProbe{err: os.ErrNotExist}).finish(4, 0); broken != nil {
		t.Errorf("a failed start must give no machine CPU, got %+v", broken)
	}
}
