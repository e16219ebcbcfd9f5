package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/junctionhq/junction/policy"
)

// table prints aligned columns: a header row, then one row per call.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *table) flush() error { return t.tw.Flush() }

// fieldTable prints one object's fields as a two-column table under the
// header row (kind, name), then an empty line.
func fieldTable(w io.Writer, kind, name string, fields [][2]string) error {
	t := newTable(w, kind, name)
	for _, f := range fields {
		t.row(f[0], f[1])
	}
	if err := t.flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}

// orDash shows an empty cell as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func formatTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func formatList(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ",")
}

func formatUSD(usd float64) string { return strconv.FormatFloat(usd, 'f', -1, 64) }

func formatBudget(b *policy.Budget) string {
	if b == nil {
		return "-"
	}
	s := "$" + formatUSD(b.USD)
	if b.Period != policy.PeriodNone {
		s += "/" + string(b.Period)
	}
	return s
}

func formatLimit(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}
