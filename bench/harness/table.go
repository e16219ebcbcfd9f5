package harness

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// tableColumns are the columns of the per-target table, in order.
var tableColumns = []string{
	"target", "requests", "req/s", "success", "mean", "p50", "p90", "p99", "max",
	"peak RSS", "CPU", "mock CPU", "loadgen CPU", "irq CPU", "other CPU",
	"p50 ×direct", "p99 ×direct", "req/s ×direct", "+p50 µs", "+p99 µs",
}

// WriteTable writes the report for people: a header, one row per target, then
// failures and errors. With markdown it writes a GitHub table that can be
// pasted into BENCHMARKS.md; otherwise aligned plain text.
func (r *Report) WriteTable(w io.Writer, markdown bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s, mock latency %s, %s %s\n",
		r.title(), r.loadLine(), r.Mock.Latency, r.Request.Path, streamWord(r.Request.Stream))
	fmt.Fprintf(&b, "machine: %s, %d cores, %.1f GiB, %s, kernel %s\n\n",
		orUnknown(r.Machine.CPUModel), r.Machine.Cores, float64(r.Machine.MemoryBytes)/(1<<30), r.Machine.GoVersion, orUnknown(r.Machine.Kernel))

	rows := make([][]string, 0, len(r.Results))
	for _, res := range r.Results {
		rows = append(rows, tableRow(res))
	}
	if markdown {
		writeMarkdownTable(&b, tableColumns, rows)
	} else {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, strings.Join(tableColumns, "\t")+"\t")
		for _, row := range rows {
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	notes := r.notes()
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			if markdown {
				b.WriteString("- ")
			}
			b.WriteString(n)
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) title() string {
	if r.Name != "" {
		return r.Name
	}
	return "benchmark"
}

func (r *Report) loadLine() string {
	if r.Load.Mode == "concurrency" {
		return fmt.Sprintf("concurrency %d for %s", r.Load.Concurrency, r.Load.Duration)
	}
	return fmt.Sprintf("%d req/s for %s", r.Load.Rate, r.Load.Duration)
}

func tableRow(res TargetResult) []string {
	dash := "-"
	row := []string{res.Target}
	if res.Summary == nil || !res.OK {
		row = append(row, "FAILED")
		for len(row) < len(tableColumns) {
			row = append(row, dash)
		}
		return row
	}
	s := res.Summary
	row = append(row,
		strconv.Itoa(s.Requests),
		strconv.FormatFloat(s.Throughput, 'f', 0, 64),
		strconv.FormatFloat(s.SuccessRatio*100, 'f', 2, 64)+"%",
		formatMicros(s.Latency.MeanMicros),
		formatMicros(s.Latency.P50Micros),
		formatMicros(s.Latency.P90Micros),
		formatMicros(s.Latency.P99Micros),
		formatMicros(s.Latency.MaxMicros),
		peakRSS(res.Process),
		cpuCores(res.Process),
		cpuCores(res.Upstream),
		cpuCores(res.LoadGenerator),
		irqCores(res.MachineCPU),
		otherCores(res.MachineCPU),
	)
	if c := res.VsDirect; c != nil {
		row = append(row,
			strconv.FormatFloat(c.P50Ratio, 'f', 2, 64),
			strconv.FormatFloat(c.P99Ratio, 'f', 2, 64),
			strconv.FormatFloat(c.ThroughputRatio, 'f', 2, 64),
			signed(c.AddedP50Micros),
			signed(c.AddedP99Micros),
		)
	}
	for len(row) < len(tableColumns) {
		row = append(row, dash)
	}
	return row
}

// notes lists failures, error messages and measurement warnings.
func (r *Report) notes() []string {
	var notes []string
	for _, res := range r.Results {
		if !res.OK {
			notes = append(notes, fmt.Sprintf("%s failed: %s", res.Target, res.Failure))
		}
		if res.Summary != nil {
			for _, e := range res.Summary.Errors {
				notes = append(notes, fmt.Sprintf("%s: %d× %s", res.Target, e.Count, e.Message))
			}
		}
		for _, p := range []*ProcessStats{res.Process, res.Upstream, res.LoadGenerator} {
			if p == nil {
				continue
			}
			for _, warn := range p.Warnings {
				notes = append(notes, fmt.Sprintf("%s: %s: %s", res.Target, p.Role, warn))
			}
		}
	}
	hasDirect := false
	for _, res := range r.Results {
		hasDirect = hasDirect || res.VsDirect != nil
	}
	if !hasDirect && len(r.Results) > 0 {
		notes = append(notes, "no ratios: the run has no successful \"direct\" target to compare with")
	}
	return notes
}

func writeMarkdownTable(b *strings.Builder, header []string, rows [][]string) {
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for i := range header {
		if i == 0 {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, row := range rows {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
}

func peakRSS(p *ProcessStats) string {
	if p == nil || p.PeakRSSBytes == 0 {
		return "-"
	}
	return formatBytes(p.PeakRSSBytes)
}

func cpuCores(p *ProcessStats) string {
	if p == nil || (p.CPUSeconds == 0 && len(p.Warnings) > 0) {
		return "-"
	}
	return strconv.FormatFloat(p.CPUCores, 'f', 2, 64)
}

func irqCores(m *MachineCPU) string {
	if m == nil {
		return "-"
	}
	return strconv.FormatFloat(m.IRQCores, 'f', 2, 64)
}

func otherCores(m *MachineCPU) string {
	if m == nil {
		return "-"
	}
	return strconv.FormatFloat(m.OtherCores, 'f', 2, 64)
}

func signed(us float64) string {
	return fmt.Sprintf("%+.0f", us)
}

func streamWord(stream bool) string {
	if stream {
		return "(stream)"
	}
	return "(non-stream)"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
