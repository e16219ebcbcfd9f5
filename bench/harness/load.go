package harness

import (
	"errors"
	"fmt"
	"time"
)

// Limits that keep a run bounded and the load generator sane.
const (
	MaxDuration    = time.Hour
	MaxRate        = 1_000_000
	MaxConcurrency = 10_000
)

// Load says how hard and how long to drive a target. Exactly one of Rate and
// Concurrency is set.
type Load struct {
	// Rate is the constant request rate per second (open model: requests are
	// sent on schedule whether or not earlier ones have finished, up to
	// MaxWorkers in flight).
	Rate int

	// Concurrency is the number of workers in fixed-concurrency mode (closed
	// model: each worker sends its next request as soon as the previous one
	// finishes).
	Concurrency int

	// MaxWorkers caps the requests in flight in constant-rate mode. Zero
	// means 1000.
	MaxWorkers int

	// Duration is how long requests are started for; requests in flight at
	// the end are waited for (up to Timeout).
	Duration time.Duration

	// Warmup runs the same load for this long before measuring; its results
	// are discarded. Zero means no warmup.
	Warmup time.Duration

	// Timeout bounds each request, from sending it to reading the last byte
	// of the response.
	Timeout time.Duration
}

// Mode names the load model: "rate" or "concurrency".
func (l Load) Mode() string {
	if l.Concurrency > 0 {
		return "concurrency"
	}
	return "rate"
}

// String describes the load for progress lines and tables, e.g.
// "concurrency 50 for 15s" or "500 req/s for 10s".
func (l Load) String() string {
	if l.Concurrency > 0 {
		return fmt.Sprintf("concurrency %d for %s", l.Concurrency, l.Duration)
	}
	return fmt.Sprintf("%d req/s for %s", l.Rate, l.Duration)
}

func (l Load) maxWorkers() int {
	if l.MaxWorkers > 0 {
		return l.MaxWorkers
	}
	return 1000
}

// Validate returns every problem with l at once.
func (l Load) Validate() error {
	var errs []error
	switch {
	case l.Rate > 0 && l.Concurrency > 0:
		errs = append(errs, errors.New("rate and concurrency are exclusive: set one"))
	case l.Rate <= 0 && l.Concurrency <= 0:
		errs = append(errs, errors.New("set a positive rate or a positive concurrency"))
	}
	if l.Rate > MaxRate {
		errs = append(errs, fmt.Errorf("rate %d is above the limit %d", l.Rate, MaxRate))
	}
	if l.Concurrency > MaxConcurrency {
		errs = append(errs, fmt.Errorf("concurrency %d is above the limit %d", l.Concurrency, MaxConcurrency))
	}
	if l.MaxWorkers < 0 || l.MaxWorkers > MaxConcurrency {
		errs = append(errs, fmt.Errorf("max workers %d is outside [0, %d]", l.MaxWorkers, MaxConcurrency))
	}
	if l.Duration <= 0 || l.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration %s is outside (0, %s]", l.Duration, MaxDuration))
	}
	if l.Warmup < 0 || l.Warmup > MaxDuration {
		errs = append(errs, fmt.Errorf("warmup %s is outside [0, %s]", l.Warmup, MaxDuration))
	}
	if l.Timeout <= 0 || l.Timeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("timeout %s is outside (0, 10m]", l.Timeout))
	}
	return errors.Join(errs...)
}
