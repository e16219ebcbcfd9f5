package harness

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/junctionhq/junction/bench/internal/loopback"
)

// Attack drives baseURL+req.Path with load for load.Duration using vegeta,
// and summarises what came back. In fixed-concurrency mode exactly
// load.Concurrency workers run, each sending its next request when the
// previous response has been read; in constant-rate mode vegeta's pacer sends
// load.Rate requests per second.
//
// It returns early (with what was measured so far) when ctx is cancelled, and
// never runs longer than Duration + Timeout + a second. baseURL must be on the
// loopback interface.
func Attack(ctx context.Context, baseURL string, req Request, load Load) (Summary, error) {
	return attack(ctx, baseURL, req, load, load.Duration, DefaultMaxLatencySamples)
}

func attack(ctx context.Context, baseURL string, req Request, load Load, duration time.Duration, maxSamples int) (Summary, error) {
	if err := load.Validate(); err != nil {
		return Summary{}, fmt.Errorf("attack: %w", err)
	}
	if err := req.Validate(); err != nil {
		return Summary{}, fmt.Errorf("attack: %w", err)
	}
	u, err := loopback.CheckURL(baseURL)
	if err != nil {
		return Summary{}, fmt.Errorf("attack: %w", err)
	}
	target := vegeta.Target{
		Method: http.MethodPost,
		URL:    u.JoinPath(req.Path).String(),
		Body:   req.Body,
		Header: req.header(),
	}

	pacer, opts := loadPlan(load)
	attacker := vegeta.NewAttacker(opts...)

	// The hard stop: vegeta stops starting requests after duration by
	// itself; this also covers cancellation and a stuck response.
	hardStop := time.AfterFunc(duration+load.Timeout+time.Second, func() { attacker.Stop() })
	defer hardStop.Stop()
	stopOnCancel := context.AfterFunc(ctx, func() { attacker.Stop() })
	defer stopOnCancel()

	rec := newRecorder(maxSamples)
	began := time.Now()
	var last time.Time
	for res := range attacker.Attack(vegeta.NewStaticTargeter(target), pacer, duration, "") {
		rec.add(int(res.Code), res.Error, res.Latency)
		if end := res.End(); end.After(last) {
			last = end
		}
	}
	elapsed := last.Sub(began)
	if last.IsZero() {
		elapsed = time.Since(began)
	}
	return rec.summary(elapsed), ctx.Err()
}

// loadPlan maps a Load onto vegeta's pacer and attacker options.
func loadPlan(load Load) (vegeta.Pacer, []func(*vegeta.Attacker)) {
	opts := []func(*vegeta.Attacker){
		vegeta.Timeout(load.Timeout),
		// A redirect is a wrong answer here, not something to follow.
		vegeta.Redirects(vegeta.NoFollow),
		// Never route benchmark traffic through $HTTP_PROXY.
		vegeta.Proxy(func(*http.Request) (*url.URL, error) { return nil, nil }),
		// Read every body to its end (so latency is time to last byte) but keep
		// none of it: holding bodies would make the load generator allocate.
		vegeta.MaxBody(0),
		vegeta.KeepAlive(true),
		vegeta.HTTP2(false),
	}
	if load.Concurrency > 0 {
		// A zero-frequency pacer asks for "as fast as possible"; with the
		// worker pool pinned at N (Workers == MaxWorkers) vegeta's scheduler
		// blocks until one of the N workers is free, so exactly N requests
		// are in flight at any time.
		n := uint64(load.Concurrency)
		opts = append(opts, vegeta.Workers(n), vegeta.MaxWorkers(n), vegeta.Connections(load.Concurrency))
		return vegeta.Rate{Freq: 0, Per: time.Second}, opts
	}
	maxWorkers := load.maxWorkers()
	opts = append(opts,
		vegeta.Workers(uint64(min(vegeta.DefaultWorkers, maxWorkers))),
		vegeta.MaxWorkers(uint64(maxWorkers)),
		vegeta.Connections(maxWorkers),
	)
	return vegeta.Rate{Freq: load.Rate, Per: time.Second}, opts
}
