package telemetry

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// LogConfig selects the log encoding and verbosity. The zero value logs at
// info level, as JSON unless the output is a terminal.
type LogConfig struct {
	// Format is "json" (one object per line, for collectors) or "pretty"
	// (colourised, for people). Empty picks pretty on a terminal, json otherwise.
	Format string `yaml:"format,omitempty"`
	// Level is the minimum level logged: trace, debug, info, warn, error.
	// Empty means info.
	Level string `yaml:"level,omitempty"`
}

// Validate reports every problem in c, each prefixed with path.
func (c LogConfig) Validate(path string) []error {
	var errs []error
	switch c.Format {
	case "", "json", "pretty":
	default:
		errs = append(errs, fmt.Errorf("%s.format: %q is not one of json, pretty", path, c.Format))
	}
	if _, err := parseLevel(c.Level); err != nil {
		errs = append(errs, fmt.Errorf("%s.level: %v", path, err))
	}
	return errs
}

func parseLevel(s string) (zerolog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return zerolog.InfoLevel, nil
	case "trace":
		return zerolog.TraceLevel, nil
	case "debug":
		return zerolog.DebugLevel, nil
	case "warn", "warning":
		return zerolog.WarnLevel, nil
	case "error":
		return zerolog.ErrorLevel, nil
	}
	return zerolog.NoLevel, fmt.Errorf("%q is not one of trace, debug, info, warn, error", s)
}

// NewLogger builds the process logger writing to w. An invalid config is an
// error; call Validate first to report it alongside other problems.
func NewLogger(w io.Writer, c LogConfig) (zerolog.Logger, error) {
	level, err := parseLevel(c.Level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("telemetry: log level: %w", err)
	}
	format := c.Format
	if format == "" {
		format = "json"
		if isTerminal(w) {
			format = "pretty"
		}
	}
	switch format {
	case "json":
	case "pretty":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)}
	default:
		return zerolog.Nop(), fmt.Errorf("telemetry: log format %q is not one of json, pretty", format)
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
