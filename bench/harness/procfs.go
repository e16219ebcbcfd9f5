package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat. It is a fixed
// ABI constant (USER_HZ) of 100 on every Linux architecture Go supports.
const userHZ = 100

// memStatus is the memory part of /proc/<pid>/status, in bytes.
type memStatus struct {
	PeakRSS int64 // VmHWM: the high-water mark of the resident set
	RSS     int64 // VmRSS: the resident set now
}

// readMemStatus reads /proc/<pid>/status.
func readMemStatus(pid int) (memStatus, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, err
	}
	defer f.Close()
	st, err := parseMemStatus(f)
	if err != nil {
		return memStatus{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return st, nil
}

// parseMemStatus extracts VmHWM and VmRSS from a /proc/<pid>/status text.
func parseMemStatus(r io.Reader) (memStatus, error) {
	var st memStatus
	var haveHWM, haveRSS bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmHWM" && key != "VmRSS") {
			continue
		}
		n, err := parseKB(value)
		if err != nil {
			return memStatus{}, fmt.Errorf("%s: %w", key, err)
		}
		if key == "VmHWM" {
			st.PeakRSS, haveHWM = n, true
		} else {
			st.RSS, haveRSS = n, true
		}
	}
	if err := sc.Err(); err != nil {
		return memStatus{}, err
	}
	if !haveHWM || !haveRSS {
		return memStatus{}, errors.New("no VmHWM/VmRSS lines (a kernel thread or a zombie?)")
	}
	return st, nil
}

// parseKB parses a status value such as "   12345 kB" into bytes.
func parseKB(value string) (int64, error) {
	fields := strings.Fields(value)
	if len(fields) != 2 || fields[1] != "kB" {
		return 0, fmt.Errorf("unexpected value %q", strings.TrimSpace(value))
	}
	n, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("unexpected value %q", strings.TrimSpace(value))
	}
	return n * 1024, nil
}

// readCPUTime returns the user+system CPU time consumed so far by every
// thread of process pid, from /proc/<pid>/stat.
func readCPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	d, err := parseCPUTime(b)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return d, nil
}

// parseCPUTime extracts utime+stime from a /proc/<pid>/stat line. The command
// name (field 2) is in parentheses and may itself contain spaces and
// parentheses, so fields are counted from the last ')'.
func parseCPUTime(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no ')' after the command name")
	}
	// After ")": state(3) ppid(4) ... utime(14) stime(15).
	fields := strings.Fields(string(stat[i+1:]))
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("only %d fields after the command name", len(fields))
	}
	u, err1 := strconv.ParseUint(fields[utime], 10, 63)
	s, err2 := strconv.ParseUint(fields[stime], 10, 63)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("utime/stime: %w", err)
	}
	return time.Duration(u+s) * time.Second / userHZ, nil
}

// resetPeakRSS resets the VmHWM of process pid to its current RSS, by writing
// "5" to /proc/<pid>/clear_refs (Linux 4.0+), so that a peak measured after a
// target's run belongs to that run and not to an earlier one sharing the
// process (the mock serves every target).
func resetPeakRSS(pid int) error {
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/clear_refs", pid), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.WriteString("5")
	cerr := f.Close()
	return errors.Join(werr, cerr)
}

// ProcessStats is what the harness observed of one process during a run.
type ProcessStats struct {
	// Role says what the process is: "mock", "baseline", "junction",
	// "load generator" (the harness itself), or "self" when the target runs
	// inside the harness (tests).
	Role string `json:"role"`
	PID  int    `json:"pid"`
	// VmHWMBytes is the kernel's resident high-water mark (VmHWM) read after
	// the run. It was reset just before the run when PeakRSSReset is true;
	// otherwise it covers the process's whole life so far.
	VmHWMBytes   int64 `json:"vmhwm_bytes"`
	PeakRSSReset bool  `json:"peak_rss_reset"`
	// PeakRSSBytes is the larger of VmHWMBytes and SampledRSSMaxBytes. The
	// kernel updates VmHWM lazily and its RSS counters are approximate, so a
	// sample can exceed the high-water mark read later by a little.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// SampledRSSMaxBytes and SampledRSSMeanBytes summarise VmRSS sampled
	// every SampleIntervalMillis during the run.
	SampledRSSMaxBytes  int64   `json:"sampled_rss_max_bytes"`
	SampledRSSMeanBytes int64   `json:"sampled_rss_mean_bytes"`
	RSSSamples          int     `json:"rss_samples"`
	SampleIntervalMS    float64 `json:"sample_interval_ms"`
	// CPUSeconds is user+system CPU time the process used during the run, and
	// CPUCores that divided by the run's wall time (1.0 = one core busy).
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUCores   float64 `json:"cpu_cores"`
	// Warnings lists what could not be measured, and why.
	Warnings []string `json:"warnings,omitempty"`
}

// processProbe measures one process around a run: it resets the peak, samples
// RSS on a ticker in its own goroutine, and reads peak and CPU at the end.
type processProbe struct {
	stats    ProcessStats
	cpuStart time.Duration
	began    time.Time

	stop chan struct{}  // closed by finish to end the sampler
	done chan struct{}  // closed by the sampler when it has returned
	once sync.Once      // guards the close of stop
	mu   sync.Mutex     // guards the fields below, written by the sampler
	sum  int64          // sum of RSS samples
	max  int64          // largest RSS sample
	n    int            // number of RSS samples
	errs map[string]int // sampling errors by message
}

// startProbe begins measuring pid. A pid of 0 yields an empty probe.
func startProbe(role string, pid int, interval time.Duration) *processProbe {
	p := &processProbe{
		stats: ProcessStats{Role: role, PID: pid, SampleIntervalMS: float64(interval) / float64(time.Millisecond)},
		began: time.Now(),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		errs:  map[string]int{},
	}
	if pid == 0 {
		close(p.done)
		return p
	}
	if err := resetPeakRSS(pid); err != nil {
		p.warn(fmt.Sprintf("peak RSS not reset, it covers the whole process life: %v", err))
	} else {
		p.stats.PeakRSSReset = true
	}
	cpu, err := readCPUTime(pid)
	if err != nil {
		p.warn(fmt.Sprintf("cpu: %v", err))
	}
	p.cpuStart = cpu
	go p.sample(interval)
	return p
}

func (p *processProbe) sample(interval time.Duration) {
	defer close(p.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	p.sampleOnce()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.sampleOnce()
		}
	}
}

func (p *processProbe) sampleOnce() {
	st, err := readMemStatus(p.stats.PID)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.errs[err.Error()]++
		return
	}
	p.n++
	p.sum += st.RSS
	p.max = max(p.max, st.RSS)
}

// finish stops the sampler, waits for it, and returns the stats. It may be
// called more than once.
func (p *processProbe) finish() ProcessStats {
	p.once.Do(func() {
		close(p.stop)
		<-p.done
		if p.stats.PID == 0 {
			return
		}
		wall := time.Since(p.began)
		if cpu, err := readCPUTime(p.stats.PID); err != nil {
			p.warn(fmt.Sprintf("cpu: %v", err))
		} else if d := cpu - p.cpuStart; d >= 0 {
			p.stats.CPUSeconds = d.Seconds()
			if wall > 0 {
				p.stats.CPUCores = d.Seconds() / wall.Seconds()
			}
		}
		if st, err := readMemStatus(p.stats.PID); err != nil {
			p.warn(fmt.Sprintf("peak RSS: %v", err))
		} else {
			p.stats.VmHWMBytes = st.PeakRSS
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.stats.RSSSamples = p.n
		p.stats.SampledRSSMaxBytes = p.max
		p.stats.PeakRSSBytes = max(p.stats.VmHWMBytes, p.max)
		if p.n > 0 {
			p.stats.SampledRSSMeanBytes = p.sum / int64(p.n)
		}
		for _, msg := range slices.Sorted(maps.Keys(p.errs)) {
			p.stats.Warnings = append(p.stats.Warnings, fmt.Sprintf("rss sample failed %d times: %s", p.errs[msg], msg))
		}
	})
	return p.stats
}

func (p *processProbe) warn(msg string) {
	p.stats.Warnings = append(p.stats.Warnings, msg)
}

// cpuStat is the machine-wide CPU time from the first line of /proc/stat, in
// clock ticks summed over all CPUs.
type cpuStat struct {
	busy  uint64 // user, nice, system, irq, softirq, steal
	idle  uint64 // idle, iowait
	irq   uint64 // irq, softirq: interrupt work (loopback networking runs here), charged to no process
	steal uint64 // time a hypervisor gave this VM's CPUs to someone else
}

// readCPUStat reads /proc/stat.
func readCPUStat() (cpuStat, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return cpuStat{}, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return cpuStat{}, fmt.Errorf("/proc/stat: %w", err)
	}
	st, err := parseCPUStat(line)
	if err != nil {
		return cpuStat{}, fmt.Errorf("/proc/stat: %w", err)
	}
	return st, nil
}

// parseCPUStat parses the aggregate "cpu user nice system idle iowait irq
// softirq steal ..." line of /proc/stat. Guest time is already included in
// user and nice, so it is not added again.
func parseCPUStat(line string) (cpuStat, error) {
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return cpuStat{}, fmt.Errorf("unexpected first line %q", strings.TrimSpace(line))
	}
	var v [8]uint64
	for i := range v {
		n, err := strconv.ParseUint(fields[i+1], 10, 64)
		if err != nil {
			return cpuStat{}, fmt.Errorf("field %d: %w", i+1, err)
		}
		v[i] = n
	}
	user, nice, system, idle, iowait, irq, softirq, steal := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
	return cpuStat{
		busy:  user + nice + system + irq + softirq + steal,
		idle:  idle + iowait,
		irq:   irq + softirq,
		steal: steal,
	}, nil
}

// MachineCPU is how busy the whole machine was during a run, in cores
// (1.0 = one core fully busy), next to what the measured processes used.
type MachineCPU struct {
	Cores     int     `json:"cores"`
	BusyCores float64 `json:"busy_cores"`
	// IRQCores is hard and soft interrupt time, charged to no process; on
	// loopback most of it is the network stack carrying the benchmark's own
	// packets.
	IRQCores float64 `json:"irq_cores"`
	// StealCores is time the hypervisor ran something else on this VM's
	// CPUs.
	StealCores float64 `json:"steal_cores"`
	// OtherCores is BusyCores minus the measured processes (the process
	// under test, its upstream and the load generator), IRQCores and
	// StealCores: other programs on the machine. A large value means the run
	// was disturbed.
	OtherCores float64 `json:"other_cores"`
}

// machineProbe measures machine-wide CPU over a run.
type machineProbe struct {
	start cpuStat
	err   error
}

func startMachineProbe() machineProbe {
	st, err := readCPUStat()
	return machineProbe{start: st, err: err}
}

// finish returns the machine's CPU use since the start, given the cores the
// measured processes used; nil when /proc/stat could not be read.
func (p machineProbe) finish(cores int, measuredCores float64) *MachineCPU {
	end, err := readCPUStat()
	if p.err != nil || err != nil {
		return nil
	}
	if end.busy < p.start.busy || end.idle < p.start.idle || end.irq < p.start.irq || end.steal < p.start.steal {
		return nil // counters went backwards: not trustworthy
	}
	busy, idle := end.busy-p.start.busy, end.idle-p.start.idle
	total := busy + idle
	if total == 0 {
		return nil
	}
	asCores := func(ticks uint64) float64 { return float64(ticks) / float64(total) * float64(cores) }
	m := &MachineCPU{
		Cores:      cores,
		BusyCores:  asCores(busy),
		IRQCores:   asCores(end.irq - p.start.irq),
		StealCores: asCores(end.steal - p.start.steal),
	}
	m.OtherCores = max(m.BusyCores-measuredCores-m.IRQCores-m.StealCores, 0)
	return m
}
