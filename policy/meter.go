package policy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/junctionhq/junction/internal/glob"

	"github.com/junctionhq/junction/store/counters"
)

// Kind is the sort of work the meter admits.
type Kind string

// The kinds of work.
const (
	KindLLM  Kind = "llm"  // a model call: chat, messages or embeddings
	KindTool Kind = "tool" // an MCP tool call
)

// Work describes what a caller is about to do, for Admit.
type Work struct {
	Kind Kind
	// Model is the model as requested (provider/model or an alias); Admit
	// checks "model:<Model>" with action use unless SkipAccess is set.
	Model string
	// PriceModel prices the estimate when it differs from Model (an alias
	// resolved to a target). Default Model.
	PriceModel string
	// AltPriceModels are the other models the work may end up billed as
	// (fallback targets). The estimate is priced at the most expensive of
	// PriceModel and these, so a fallback to a pricier model cannot spend
	// past a budget that admitted the cheap first target.
	AltPriceModels []string
	// Server and Tool name a tool call; Admit checks "tool:<Server>/<Tool>"
	// with action call unless SkipAccess is set.
	Server, Tool string
	// PromptTokens estimates the prompt; MaxTokens caps the completion
	// (0: none asked for, estimated at the meter's default_max_tokens for
	// budgets and not counted against tokens-per-minute limits until the
	// work settles; negative: no completion, as for embeddings). Any value
	// is safe: the estimate caps the completion at the model's output limit
	// and saturates.
	PromptTokens, MaxTokens int64
	// SkipAccess is set by callers that already checked access.
	SkipAccess bool
	// RequestID links the usage record to the request's logs.
	RequestID string
}

// bucketRole is the dimension of one counter a reservation holds.
type bucketRole uint8

const (
	roleRequests bucketRole = iota
	roleTokens
	roleToolCalls
	roleBudget
)

// maxBuckets is the most counters one admission touches: requests or tool
// calls, tokens and budget, at key and team level.
const maxBuckets = 6

// rateWindow is the length of a rate-limit window.
const rateWindow = time.Minute

// Reservation is admitted work in progress. Settle it exactly once when the
// work is done (also when it failed), so that unused tokens and money return
// to the limits and the usage is recorded.
//
// A Reservation is the one allocation of an admission, so it holds only what
// Settle, RateLimits and a rejection need: per counter, the index of its
// entry in the identity's plan and the numbers of this admission.
type Reservation struct {
	e  *Engine
	id *Identity
	// prices is the table the estimate was priced from and price its entry
	// for model (nil when the model has none), so that Settle prices the
	// outcome without a second lookup when neither changed.
	prices *PriceTable
	price  *Price
	kind   Kind
	// model is what the estimate was priced as: Work.PriceModel, else
	// Work.Model.
	model                   string
	server, tool, requestID string
	start                   time.Time

	estTokens int64
	estMicros int64

	settled atomic.Bool

	// The n counters reserved: bucket i is plan[idx[i]] of the identity's
	// plan for kind, with values[i] after the admission. Its window and
	// amount follow from start and the estimates (see window and reserved).
	n      uint8
	idx    [maxBuckets]uint8
	values [maxBuckets]int64
}

// buckets holds the buckets of one Reserve or Adjust call. Admit and Settle
// keep it on the stack and hand it to the in-process back-end directly (see
// Engine.reserve); only a remote back-end, whose round trip dwarfs the
// cost, gets a heap copy.
type buckets [maxBuckets]counters.Bucket

// reserve runs the counters' Reserve on bs[:n].
func (e *Engine) reserve(ctx context.Context, bs *buckets, n int, values []int64) (int, error) {
	if e.memory != nil {
		return e.memory.Reserve(ctx, bs[:n], values)
	}
	heap := *bs
	return e.counters.Reserve(ctx, heap[:n], values)
}

// settleTimeout bounds the counter update of a settlement, which runs on a
// context detached from the caller's.
const settleTimeout = 2 * time.Second

// adjust runs the counters' Adjust on bs[:n], also when ctx was cancelled
// (settling must happen whatever became of the caller's request, a stream
// cut by shutdown included), within settleTimeout.
func (e *Engine) adjust(ctx context.Context, bs *buckets, n int) error {
	if e.memory != nil {
		return e.memory.Adjust(ctx, bs[:n]) // never blocks, ignores ctx
	}
	heap := *bs
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	return e.counters.Adjust(ctx, heap[:n])
}

// adjustOne applies one pending charge (settleretry.go).
func (e *Engine) adjustOne(ctx context.Context, b counters.Bucket) error {
	return e.counters.Adjust(ctx, []counters.Bucket{b})
}

// planned is the plan entry of bucket i.
func (r *Reservation) planned(i int) *plannedBucket { return &r.id.plan.of(r.kind)[r.idx[i]] }

// Identity is who the reservation is for.
func (r *Reservation) Identity() *Identity { return r.id }

// EstimatedCostUSD is the money the reservation holds.
func (r *Reservation) EstimatedCostUSD() float64 { return float64(r.estMicros) / 1e6 }

// LimitStatus is the state of one rate limit after an admission, for the
// x-ratelimit-* response headers.
type LimitStatus struct {
	Scope     Scope
	Dimension Dimension
	Limit     int64
	Remaining int64
	Reset     time.Time
}

// RateLimits returns the state of the rate limits the admission counted
// against, key before team.
func (r *Reservation) RateLimits() []LimitStatus {
	var out []LimitStatus
	for i := range int(r.n) {
		p := r.planned(i)
		if p.role == roleBudget {
			continue
		}
		out = append(out, LimitStatus{
			Scope: p.scope(), Dimension: p.role.dimension(), Limit: p.limit,
			Remaining: max(0, p.limit-r.values[i]), Reset: r.reset(i),
		})
	}
	return out
}

func (b bucketRole) dimension() Dimension {
	switch b {
	case roleTokens:
		return DimTokens
	case roleToolCalls:
		return DimToolCalls
	}
	return DimRequests
}

// Admit checks access, rate limits and budgets for w and reserves what w
// may use: one request (or tool call), its estimated tokens, and its
// estimated cost. It returns a typed rejection (*AccessError,
// *RateLimitError, *BudgetError) when the work may not go ahead, and an
// error wrapping ErrUnavailable when the counters cannot be reached (fail
// closed).
func (e *Engine) Admit(ctx context.Context, id *Identity, w Work) (*Reservation, error) {
	if id == nil {
		return nil, &AuthError{Reason: AuthMissing}
	}
	priceModel := w.PriceModel
	priceModel = cmp.Or(priceModel, w.Model)
	s := e.snap.Load()
	var price *Price
	if w.Kind == KindTool {
		if !w.SkipAccess && !e.AllowedTool(id, w.Server, w.Tool, ActionCall) {
			obj, act := w.object()
			return nil, &AccessError{Object: obj, Action: act}
		}
	} else {
		var allowed bool
		allowed, price = e.modelFacts(s, id, w.Model, priceModel, !w.SkipAccess)
		if !w.SkipAccess && !allowed {
			obj, act := w.object()
			return nil, &AccessError{Object: obj, Action: act}
		}
	}
	now := e.now() // the admission's only clock read
	r := &Reservation{e: e, id: id, kind: w.Kind, model: priceModel, server: w.Server, tool: w.Tool,
		requestID: w.RequestID, start: now}
	switch w.Kind {
	case KindTool:
		r.estMicros = e.toolCostMicros(w.Server, w.Tool)
	default:
		r.prices, r.price = s.prices, price
		r.estimate(s.prices, &w, e.meter.DefaultMaxTokens)
	}
	if id.Admin {
		return r, nil
	}
	plan := id.plan.of(w.Kind)
	if len(plan) == 0 {
		return r, nil
	}
	var bs buckets
	for j := range plan {
		p := &plan[j]
		if p.role == roleBudget && w.Kind == KindTool && r.estMicros <= 0 {
			continue // a free tool call spends nothing
		}
		amount := r.reserved(p)
		if p.role != roleBudget && amount > p.limit {
			return nil, r.tooLarge(p, amount)
		}
		window, ttl := r.window(p)
		bs[r.n] = counters.Bucket{Key: p.key, Slot: p.slot, Window: window, TTL: ttl, Limit: p.limit, Amount: amount}
		if p.role == roleBudget {
			// A budget's counter that is missing (a restart, a Redis that
			// lost it) is rebuilt from the usage records: see reserveSeeded.
			bs[r.n].Missing = counters.ReportMissing
		}
		r.idx[r.n] = uint8(j)
		r.n++
	}
	rejected, err := e.reserve(ctx, &bs, int(r.n), r.values[:r.n])
	if errors.Is(err, counters.ErrMissing) {
		rejected, err = e.reserveSeeded(ctx, r, &bs)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if rejected >= 0 {
		return nil, r.rejection(rejected, now)
	}
	return r, nil
}

// estimate sets what LLM work w reserves: the tokens its rate limits count
// and the most it may cost, priced at r.price (nil: unpriced) and at each
// of w.AltPriceModels found in prices, whichever is dearest. The completion
// is what max_tokens asks for (defaultMax when it asks for nothing), capped
// at each model's output limit.
//
// Rate limits count the prompt and the completion asked for. Work that asks
// for no particular completion is counted by its prompt until it settles to
// what it used, so it is admitted whenever its prompt fits: counting the
// default completion would refuse it for good under a tokens-per-minute
// limit smaller than that default. Budgets still reserve the default
// completion, so that they hold.
func (r *Reservation) estimate(prices *PriceTable, w *Work, defaultMax int64) {
	prompt, completion := max(0, w.PromptTokens), w.MaxTokens
	switch {
	case completion < 0: // no completion at all (embeddings)
		completion = 0
	case completion == 0:
		completion = defaultMax
	}
	r.estTokens = prompt
	if w.MaxTokens > 0 {
		r.estTokens = satAdd(prompt, min(completion, r.price.completionCap()))
	}
	r.estMicros = estimateMicros(r.price, prompt, completion)
	for _, m := range w.AltPriceModels {
		if p, ok := prices.Lookup(m); ok {
			r.estMicros = max(r.estMicros, estimateMicros(p, prompt, completion))
		}
	}
}

// estimateMicros is the most prompt tokens and a completion of up to
// completion tokens cost at p (nil: nothing), rounded up.
func estimateMicros(p *Price, prompt, completion int64) int64 {
	if p == nil {
		return 0
	}
	est := TokenUsage{PromptTokens: prompt, CompletionTokens: min(completion, p.completionCap())}
	return clampMicros(math.Ceil(p.costMicros(est)))
}

// modelMemo is what an LLM admission looks up for its model, the access
// decision (action use) and the price, remembered on the identity together
// with the snapshot they came from. Any change to keys, policies or prices
// makes a new snapshot and so a stale memo: it answers exactly what the
// decision cache and the price table would. An identity remembers only the
// first model it is admitted for in a snapshot, so a key that alternates
// models never allocates for it.
type modelMemo struct {
	snap       *snapshot
	model      string // Work.Model, the object of the decision
	priceModel string // what the estimate is priced as
	allowed    bool
	price      *Price // nil when priceModel has none
}

// modelFacts returns whether id may use model (when access is set; else
// allowed is meaningless) and the price of priceModel (nil for none), as of
// snapshot s.
func (e *Engine) modelFacts(s *snapshot, id *Identity, model, priceModel string, access bool) (allowed bool, price *Price) {
	old := id.memo.Load()
	if old != nil && old.snap == s && old.model == model && old.priceModel == priceModel {
		return old.allowed, old.price
	}
	price, _ = s.prices.Lookup(priceModel)
	if !access {
		return false, price
	}
	allowed = e.allowedIn(s, id, "model:", model, "", ActionUse)
	if !id.Admin && (old == nil || old.snap != s) {
		id.memo.Store(&modelMemo{snap: s, model: model, priceModel: priceModel, allowed: allowed, price: price})
	}
	return allowed, price
}

func (w Work) object() (obj, act string) {
	if w.Kind == KindTool {
		return "tool:" + w.Server + "/" + w.Tool, ActionCall
	}
	return "model:" + w.Model, ActionUse
}

// rejection builds the typed error for the bucket that was over its limit.
func (r *Reservation) rejection(i int, now time.Time) error {
	p := r.planned(i)
	if p.role == roleBudget {
		return &BudgetError{Scope: p.scope(), LimitUSD: float64(p.limit) / 1e6, SpentUSD: float64(r.values[i]) / 1e6,
			CostUSD: float64(r.estMicros) / 1e6, Period: p.period, Reset: r.reset(i)}
	}
	return &RateLimitError{Scope: p.scope(), Dimension: p.role.dimension(), Limit: p.limit,
		Remaining: max(0, p.limit-r.values[i]), Reset: r.reset(i), RetryAfter: max(r.reset(i).Sub(now), time.Second)}
}

// tooLarge is the rejection of work that asks for more of rate limit p
// (amount) than the limit allows in a whole window: waiting cannot help.
func (r *Reservation) tooLarge(p *plannedBucket, amount int64) error {
	return &RateLimitError{Scope: p.scope(), Dimension: p.role.dimension(), Limit: p.limit, Requested: amount}
}

func (p *plannedBucket) scope() Scope {
	if p.team {
		return ScopeTeam
	}
	return ScopeKey
}

// reset is when bucket i's window ends (zero for a budget that never
// resets): a rate window a minute after its start, a budget at its period's
// end.
func (r *Reservation) reset(i int) time.Time {
	p := r.planned(i)
	if p.role != roleBudget {
		window, _ := r.window(p)
		return time.Unix(window, 0).Add(rateWindow).UTC()
	}
	_, end := p.period.Window(r.start)
	return end
}

// window returns the window counter p counts in for this admission and the
// TTL its counter is created with: the minute of start for a rate limit,
// the period window holding start for a budget.
func (r *Reservation) window(p *plannedBucket) (int64, time.Duration) {
	if p.role == roleBudget {
		return r.e.windows.get(p.period, r.start)
	}
	return r.start.Unix() / 60 * 60, 2 * rateWindow
}

// reserved is what the admission reserves on counter p: one request or
// tool call, the estimated tokens, or the estimated cost (at least one
// micro-dollar, so that an exhausted budget stops even unpriced work).
func (r *Reservation) reserved(p *plannedBucket) int64 {
	switch p.role {
	case roleTokens:
		return r.estTokens
	case roleBudget:
		return max(1, r.estMicros)
	}
	return 1
}

func (e *Engine) toolCostMicros(server, tool string) int64 {
	if len(e.meter.ToolCosts) == 0 {
		return 0
	}
	name := server + "/" + tool
	for _, tc := range e.meter.ToolCosts {
		if glob.Match(name, tc.Tool) {
			return usdToMicros(tc.USD)
		}
	}
	return 0
}

// Outcome is what admitted work actually used, for Settle.
type Outcome struct {
	// Model is the model that answered (provider/model), for pricing.
	// Default: the Work's PriceModel or Model.
	Model string
	// Usage is the tokens the model reported.
	Usage TokenUsage
	// CostUSD, when set, is the cost to record instead of pricing Usage
	// (for example a cache hit's nominal cost).
	CostUSD *float64
	// Status is "ok", "error", "cancelled" or another short word. Default "ok".
	Status string
}

// Settle records what the work used: it returns unused tokens and money to
// the counters (or takes the excess when the work used more than
// estimated), queues the usage record, and returns the cost in USD. Only
// the first call counts; later calls return 0.
func (r *Reservation) Settle(ctx context.Context, o Outcome) float64 {
	if r == nil || !r.settled.CompareAndSwap(false, true) {
		return 0
	}
	e := r.e
	model := o.Model
	model = cmp.Or(model, r.model)
	var micros int64
	switch {
	case o.CostUSD != nil:
		micros = usdToMicros(*o.CostUSD)
	case r.kind == KindTool:
		micros = r.estMicros
	default:
		// The estimate's price still holds unless another model answered or
		// the price table was replaced since.
		p, ok := r.price, r.price != nil
		if prices := e.snap.Load().prices; model != r.model || prices != r.prices {
			p, ok = prices.Lookup(model)
		}
		if ok {
			micros = clampMicros(math.Round(p.costMicros(o.Usage)))
		}
	}
	used := o.Usage.clean()
	tokens := satAdd(used.PromptTokens, used.CompletionTokens)
	if r.n > 0 {
		r.adjust(ctx, tokens, micros)
	}
	status := o.Status
	status = cmp.Or(status, "ok")
	rec := usageEntry{
		id: r.id, unixMicro: r.start.UnixMicro(), duration: e.since(r.start), kind: r.kind, requestID: r.requestID,
		server: r.server, tool: r.tool, status: status,
		usage:  [3]int64{used.PromptTokens, used.CompletionTokens, used.CachedTokens},
		micros: micros,
	}
	if r.kind != KindTool {
		rec.model = model
	}
	e.usage.Enqueue(&rec)
	return float64(micros) / 1e6
}

// adjust corrects the reserved tokens and money by what was used: one
// Adjust of every token and budget counter whose amount was off.
func (r *Reservation) adjust(ctx context.Context, tokens, micros int64) {
	var bs buckets
	plan, n := r.id.plan.of(r.kind), 0
	for i := range int(r.n) {
		p := &plan[r.idx[i]]
		var delta int64
		switch p.role {
		case roleTokens:
			delta = tokens - r.reserved(p)
		case roleBudget:
			delta = micros - r.reserved(p)
		}
		if delta != 0 { // a request or tool call stays counted
			window, _ := r.window(p)
			bs[n] = counters.Bucket{Key: p.key, Slot: p.slot, Window: window, Amount: delta}
			n++
		}
	}
	if n == 0 {
		return
	}
	if err := r.e.adjust(ctx, &bs, n); err != nil {
		r.e.log.Error().Err(err).Str("key", r.id.Name()).
			Msg("policy: settling counters failed; what was used beyond the reservation is retried, an unused reservation stays held until its window ends")
		r.e.charges.add(bs[:n])
	}
}

// windowCache remembers the budget windows of the current minute, so that
// admitting does not redo calendar arithmetic on every request. Every window
// boundary falls on a minute, so the windows of a minute never change.
type windowCache struct {
	cur atomic.Pointer[minuteWindows]
}

type minuteWindows struct {
	minute int64    // unix seconds of the minute's start
	start  [4]int64 // unix seconds
	end    [4]int64 // unix nanoseconds
}

var cachedPeriods = [4]Period{PeriodHour, PeriodDay, PeriodWeek, PeriodMonth}

// get returns the counter window of a budget of period p at now: the
// period window's start in unix seconds, and the TTL that keeps its counter
// until an hour after the window ends. Both are 0 for PeriodNone.
func (c *windowCache) get(p Period, now time.Time) (window int64, ttl time.Duration) {
	if p == PeriodNone {
		return 0, 0
	}
	minute := now.Unix() / 60 * 60
	w := c.cur.Load()
	if w == nil || w.minute != minute {
		nw := &minuteWindows{minute: minute}
		for i, cp := range cachedPeriods {
			start, end := cp.Window(now)
			nw.start[i], nw.end[i] = start.Unix(), end.UnixNano()
		}
		// An earlier minute (settling work admitted before a rollover)
		// is computed but not cached over the current one.
		if w == nil || w.minute < minute {
			c.cur.Store(nw)
		}
		w = nw
	}
	for i, cp := range cachedPeriods {
		if cp == p {
			return w.start[i], time.Duration(w.end[i]-now.UnixNano()) + time.Hour
		}
	}
	start, end := p.Window(now)
	return start.Unix(), end.Sub(now) + time.Hour
}
