package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Period is how often a budget resets. Windows are aligned to the calendar in
// UTC, so every replica agrees on where one ends: hours on the hour, days at
// midnight, weeks on Monday, months on the first.
type Period string

// The budget periods.
const (
	PeriodNone  Period = ""   // never resets
	PeriodHour  Period = "1h" // resets on the hour
	PeriodDay   Period = "1d" // resets at 00:00 UTC
	PeriodWeek  Period = "1w" // resets Monday 00:00 UTC
	PeriodMonth Period = "1mo"
)

// ParsePeriod accepts "", "none", "1h", "1d", "1w" and "1mo".
func ParsePeriod(s string) (Period, error) {
	switch Period(s) {
	case PeriodNone, PeriodHour, PeriodDay, PeriodWeek, PeriodMonth:
		return Period(s), nil
	case "none":
		return PeriodNone, nil
	}
	return "", fmt.Errorf("period %q is not one of 1h, 1d, 1w, 1mo, none", s)
}

// Window returns the start and end of the period window holding t. For
// PeriodNone both are zero.
func (p Period) Window(t time.Time) (start, end time.Time) {
	t = t.UTC()
	y, m, d := t.Date()
	switch p {
	case PeriodHour:
		start = t.Truncate(time.Hour)
		return start, start.Add(time.Hour)
	case PeriodDay:
		start = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	case PeriodWeek:
		offset := (int(t.Weekday()) + 6) % 7 // days since Monday
		start = time.Date(y, m, d-offset, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 7)
	case PeriodMonth:
		start = time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
	return time.Time{}, time.Time{}
}

// Budget caps spending in USD per period.
type Budget struct {
	// USD is the most that may be spent in one period. Zero allows nothing.
	USD float64 `json:"usd" yaml:"usd"`
	// Period is when the budget resets: 1h, 1d, 1w, 1mo, or empty for never.
	Period Period `json:"period,omitempty" yaml:"period,omitempty"`
}

// Validate reports problems with b under path.
func (b *Budget) Validate(path string) []error {
	if b == nil {
		return nil
	}
	var errs []error
	if b.USD < 0 || math.IsNaN(b.USD) || math.IsInf(b.USD, 0) || b.USD > maxUSD {
		errs = append(errs, fmt.Errorf("%s.usd: must be a number from 0 to %g", path, float64(maxUSD)))
	}
	if _, err := ParsePeriod(string(b.Period)); err != nil {
		errs = append(errs, fmt.Errorf("%s.period: %v", path, err))
	}
	return errs
}

// maxUSD keeps budgets well inside int64 micro-dollars.
const maxUSD = 1e12

// Micros returns b.USD in millionths of a dollar, the unit counters use.
func (b *Budget) Micros() int64 { return usdToMicros(b.USD) }

// Limits are per-minute rate limits. Zero means unlimited.
type Limits struct {
	// RPM caps LLM requests per minute.
	RPM int64 `json:"rpm,omitempty" yaml:"rpm,omitempty"`
	// TPM caps LLM tokens (prompt + completion) per minute.
	TPM int64 `json:"tpm,omitempty" yaml:"tpm,omitempty"`
	// ToolCallsPerMin caps tool calls per minute.
	ToolCallsPerMin int64 `json:"tool_calls_per_min,omitempty" yaml:"tool_calls_per_min,omitempty"`
}

// Validate reports problems with l under path.
func (l Limits) Validate(path string) []error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int64
	}{{"rpm", l.RPM}, {"tpm", l.TPM}, {"tool_calls_per_min", l.ToolCallsPerMin}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s.%s: must not be negative", path, f.name))
		}
	}
	return errs
}

// IsZero reports whether no limit is set (for json omitzero).
func (l Limits) IsZero() bool { return l == Limits{} }

// UnmarshalJSON accepts a period written as "none".
func (p *Period) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("period must be a string such as \"1d\"")
	}
	v, err := ParsePeriod(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// UnmarshalYAML accepts a period written as "none" and rejects unknown ones.
func (p *Period) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	v, err := ParsePeriod(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}
