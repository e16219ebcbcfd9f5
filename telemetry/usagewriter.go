package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/store"
)

// The usage writer's timing.
const (
	// usageInsertTimeout bounds one batch insert.
	usageInsertTimeout = 5 * time.Second
	// usageBackoffMin and usageBackoffMax bound the wait between attempts
	// while the store refuses records; it doubles after each failure.
	usageBackoffMin = 100 * time.Millisecond
	usageBackoffMax = 5 * time.Second
	// usageDropLogInterval is the least time between two warnings about
	// dropped records.
	usageDropLogInterval = 10 * time.Second
	// usageReplayBatches is how many batches of the spill file one writer
	// cycle replays, so that new records keep being written during a long
	// replay.
	usageReplayBatches = 20
	// usageSpillReserve is kept from the shutdown deadline for spilling what
	// the store did not take.
	usageSpillReserve = time.Second
	// usageCloseGrace is how long close waits past its deadline for the last
	// spill to reach the disk.
	usageCloseGrace = 2 * time.Second
)

// ErrUsageBuffered is returned by Flush when the store does not take
// usage records right now: they wait in memory or in the spill file and are
// written when it does.
var ErrUsageBuffered = errors.New("telemetry: the store is not taking usage records; they are buffered")

// UsageWriter writes usage records to the store in batches, off the request
// path, and loses none while the store is away. E is a record as its
// producer queues it: whatever is cheapest to copy on the request path; the
// writer builds the store's record from it off the path.
//
// Enqueue never blocks, never waits on the database and never allocates in
// the steady state: it appends to the batch being filled under a mutex, and
// the writer wakes on its interval or when a batch is full. Batches have a
// fixed capacity and are reused once written.
//
// A batch the store refuses stays in memory and is retried, with a backoff
// doubling from 100 ms to 5 s, for as long as the store is away. Memory is
// bounded by capacity records: when the writer holds more than half of it,
// it moves the oldest batches to the spill file (see usageSpill) until three
// quarters are free; the file is replayed once the store takes records
// again, a little at a time, new records first. Only when memory is full (the writer cannot keep up, or
// there is no spill file) or the spill file reaches its limit are records
// dropped, counted and reported in one warning per usageDropLogInterval.
//
// Every record gets an ID (a random prefix per process and a sequence
// number) and the store skips IDs it already holds, so a batch retried
// after an ambiguous failure, or replayed twice, is stored once.
//
// Close writes what the store takes before its deadline and spills the rest.
type UsageWriter[E any] struct {
	// sink writes one batch; the store's InsertUsage.
	sink UsageSink
	// build makes the store's record of an entry, with its ID.
	build    func(e *E, id string) store.UsageRecord
	capacity int
	batch    int // records per batch: min(Batch, Queue)
	interval time.Duration
	log      zerolog.Logger
	// idPrefix starts the ID of every record this process writes.
	idPrefix string

	written atomic.Int64
	dropped atomic.Int64
	// spilled mirrors spill.pending() for Stats.
	spilled atomic.Int64

	mu sync.Mutex // guards cur, full, free, waiting, closed and closeCtx
	// cur is the batch being filled (nil until the first record after a
	// take); its capacity is batch.
	cur []E
	// full holds filled batches the writer has not taken yet.
	full [][]E
	// free holds written, cleared batches for reuse, at most maxFree.
	free [][]E
	// waiting counts the records in memory: in cur, full and the writer's
	// pending batches.
	waiting int
	closed  bool
	// closeCtx bounds the writer's last writes; set before stop is closed.
	closeCtx context.Context

	// kick wakes the writer early (a full batch); buffered, never blocks.
	kick chan struct{}
	// flushReq asks the writer for one cycle now; it sends the cycle's
	// outcome on the reply.
	flushReq chan chan flushResult
	stop     chan struct{}
	done     chan struct{}
	// lost is the number of records close could neither write nor spill;
	// written by the writer before done is closed.
	lost int64

	// w is the writer goroutine's own state.
	w writerState[E]
}

// writerState is the state only the writer goroutine touches.
type writerState[E any] struct {
	// spill holds records beyond the memory bound; nil without a data dir.
	spill *usageSpill
	// pending are batches taken off the queue and not yet written or
	// spilled, oldest first.
	pending []usageBatch[E]
	// recs is the buffer records builds a batch's store records in.
	recs []store.UsageRecord
	seq  uint64 // the last record number given
	// outage is set while the store refuses records: since when, the
	// current backoff and when to try again.
	outage      bool
	outageSince time.Time
	backoff     time.Duration
	retryAt     time.Time
	lastErr     error
	// dropLogged is the dropped count last reported, at dropLogAt.
	dropLogged int64
	dropLogAt  time.Time
}

// flushResult is the outcome of one writer cycle for a flush.
type flushResult struct {
	err  error
	more bool // the spill file still holds records
}

// usageBatch is a batch taken off the queue: its records are numbered
// from first on, for their IDs.
type usageBatch[E any] struct {
	entries []E
	first   uint64
}

// maxFree bounds the written batches kept for reuse.
const maxFree = 64

// NewUsageWriter starts a writer of the entries build turns into store
// records, into sink. A spill file left in cfg.SpillDir by an earlier run is
// replayed first.
func NewUsageWriter[E any](sink UsageSink, build func(e *E, id string) store.UsageRecord, cfg UsageWriterConfig,
	log zerolog.Logger) (*UsageWriter[E], error) {
	cfg.applyDefaults()
	spill, torn, err := openSpill(cfg.SpillDir, cfg.SpillMaxBytes)
	if err != nil {
		return nil, err
	}
	var p [8]byte
	_, _ = rand.Read(p[:]) // never fails (crypto/rand documents it)
	u := &UsageWriter[E]{
		sink: sink, build: build, capacity: cfg.Queue, batch: max(1, min(cfg.Batch, cfg.Queue)),
		interval: cfg.FlushInterval, log: log, idPrefix: hex.EncodeToString(p[:]) + "-",
		kick: make(chan struct{}, 1), flushReq: make(chan chan flushResult), stop: make(chan struct{}), done: make(chan struct{}),
	}
	u.w.spill = spill
	if torn {
		u.dropped.Add(1)
		log.Warn().Str("file", spill.path).Msg("telemetry: cut a torn last line (a crash during a write) off the usage spill file")
	}
	if spill != nil && spill.pending() > 0 {
		u.spilled.Store(spill.pending())
		log.Info().Int64("records", spill.pending()).Str("file", spill.path).
			Msg("telemetry: replaying usage records left in the spill file")
		u.kick <- struct{}{}
	}
	go u.run()
	return u, nil
}

// Enqueue queues rec, or drops and counts it when memory is full or the
// writer is closed. It takes rec by pointer so that the record is copied
// once, into its batch.
func (u *UsageWriter[E]) Enqueue(rec *E) {
	u.mu.Lock()
	if u.closed || u.waiting >= u.capacity {
		u.mu.Unlock()
		u.dropped.Add(1)
		return
	}
	if u.cur == nil {
		if n := len(u.free); n > 0 {
			u.cur, u.free[n-1] = u.free[n-1], nil
			u.free = u.free[:n-1]
		} else {
			u.cur = make([]E, 0, u.batch)
		}
	}
	u.cur = append(u.cur, *rec)
	u.waiting++
	full := len(u.cur) == u.batch
	if full {
		u.full = append(u.full, u.cur)
		u.cur = nil
	}
	u.mu.Unlock()
	if full {
		select {
		case u.kick <- struct{}{}:
		default:
		}
	}
}

// Stats returns the writer's counters.
func (u *UsageWriter[E]) Stats() UsageStats {
	return UsageStats{Queued: int64(u.queued()), Spilled: u.spilled.Load(), Written: u.written.Load(), Dropped: u.dropped.Load()}
}

// queued is the number of records waiting in memory.
func (u *UsageWriter[E]) queued() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.waiting
}

// take moves every queued batch, the partly filled one last, to the
// writer's pending batches, numbering their records.
func (u *UsageWriter[E]) take() {
	u.mu.Lock()
	for _, b := range u.full {
		u.w.pending = append(u.w.pending, u.numbered(b))
	}
	clear(u.full)
	u.full = u.full[:0]
	if len(u.cur) > 0 {
		u.w.pending = append(u.w.pending, u.numbered(u.cur))
		u.cur = nil
	}
	u.mu.Unlock()
}

// numbered is b with its records numbered after the last given.
func (u *UsageWriter[E]) numbered(b []E) usageBatch[E] {
	first := u.w.seq + 1
	u.w.seq += uint64(len(b))
	return usageBatch[E]{entries: b, first: first}
}

// release returns the first pending batch's memory: it was written,
// spilled or dropped.
func (u *UsageWriter[E]) release() {
	b := u.w.pending[0].entries
	u.w.pending[0] = usageBatch[E]{}
	u.w.pending = u.w.pending[1:]
	clear(b)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.waiting -= len(b)
	if len(u.free) < maxFree {
		u.free = append(u.free, b[:0])
	}
}

// run is the writer: a cycle every interval, when a batch is full and on a
// flush request, and the last writes on close.
func (u *UsageWriter[E]) run() {
	defer close(u.done)
	tick := time.NewTicker(u.interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			u.cycle(context.Background(), false)
		case <-u.kick:
			u.cycle(context.Background(), false)
		case reply := <-u.flushReq:
			more, err := u.cycle(context.Background(), true)
			reply <- flushResult{err: err, more: more}
		case <-u.stop:
			u.finish()
			return
		}
	}
}

// cycle takes the queued batches and, unless the store is in its backoff
// (force ignores it), writes them, then replays part of the spill file.
// While the store refuses records, it spills what memory cannot hold. It
// reports whether the spill file still holds records, and an error when
// records wait because the store refused them.
func (u *UsageWriter[E]) cycle(ctx context.Context, force bool) (more bool, err error) {
	u.take()
	defer u.logDrops(false)
	if u.w.outage && !force && time.Now().Before(u.w.retryAt) {
		u.spillOverflow()
		return u.spillPending() > 0, ErrUsageBuffered
	}
	if err = u.writePending(ctx); err == nil {
		err = u.replay(ctx)
	}
	if err != nil {
		u.failed(err)
		u.spillOverflow()
		return u.spillPending() > 0, fmt.Errorf("%w: %v", ErrUsageBuffered, err)
	}
	if u.w.outage {
		u.recovered()
	}
	more = u.spillPending() > 0
	if more {
		// Replay the rest soon, between new records.
		select {
		case u.kick <- struct{}{}:
		default:
		}
	}
	return more, nil
}

func (u *UsageWriter[E]) spillPending() int64 {
	if u.w.spill == nil {
		return 0
	}
	return u.w.spill.pending()
}

// writePending writes the pending batches in order, stopping at the first
// the store refuses.
func (u *UsageWriter[E]) writePending(ctx context.Context) error {
	for len(u.w.pending) > 0 {
		if err := u.write(ctx, u.w.pending[0]); err != nil {
			return err
		}
		u.written.Add(int64(len(u.w.pending[0].entries)))
		u.release()
	}
	return nil
}

// records builds the store's records of b in the writer's buffer, valid
// until the next call.
func (u *UsageWriter[E]) records(b usageBatch[E]) []store.UsageRecord {
	clear(u.w.recs)
	u.w.recs = u.w.recs[:0]
	for i := range b.entries {
		u.w.recs = append(u.w.recs, u.build(&b.entries[i], u.idPrefix+strconv.FormatUint(b.first+uint64(i), 36)))
	}
	return u.w.recs
}

// write inserts one batch within usageInsertTimeout.
func (u *UsageWriter[E]) write(ctx context.Context, b usageBatch[E]) error {
	ctx, cancel := context.WithTimeout(ctx, usageInsertTimeout)
	defer cancel()
	return u.sink.InsertUsage(ctx, u.records(b))
}

// replay writes up to usageReplayBatches batches of the spill file,
// removing it once all of it is written.
func (u *UsageWriter[E]) replay(ctx context.Context) error {
	s := u.w.spill
	for range usageReplayBatches {
		// New records come first: a long replay must not fill memory.
		if s == nil || s.pending() == 0 || u.queued() > u.capacity/4 {
			return nil
		}
		c, err := s.next(u.batch)
		if err != nil {
			return err
		}
		if len(c.records) > 0 {
			ictx, cancel := context.WithTimeout(ctx, usageInsertTimeout)
			err = u.sink.InsertUsage(ictx, c.records)
			cancel()
			if err != nil {
				return err
			}
		}
		if c.bad > 0 {
			u.dropped.Add(int64(c.bad))
			u.log.Warn().Int("lines", c.bad).Str("file", s.path).Msg("telemetry: skipped unreadable lines of the usage spill file")
		}
		if err := s.commit(c); err != nil {
			u.log.Error().Err(err).Msg("telemetry: usage spill file")
		}
		u.written.Add(int64(len(c.records)))
		u.spilled.Store(s.pending())
		if s.pending() == 0 {
			u.log.Info().Str("file", s.path).Msg("telemetry: usage spill file replayed and removed")
		}
	}
	return nil
}

// failed notes a refused write and sets when to try again.
func (u *UsageWriter[E]) failed(err error) {
	now := time.Now()
	u.w.lastErr = err
	if !u.w.outage {
		u.w.outage, u.w.outageSince, u.w.backoff = true, now, usageBackoffMin
		u.log.Warn().Err(err).Int("buffered", u.queued()).
			Msg("telemetry: the store refuses usage records; buffering and retrying them")
	} else {
		u.w.backoff = min(2*u.w.backoff, usageBackoffMax)
	}
	u.w.retryAt = now.Add(u.w.backoff)
}

// recovered ends an outage.
func (u *UsageWriter[E]) recovered() {
	u.log.Info().Dur("outage", time.Since(u.w.outageSince)).Int64("spilled", u.spillPending()).
		Msg("telemetry: the store takes usage records again; buffered records written")
	u.w.outage, u.w.backoff, u.w.lastErr = false, 0, nil
}

// spillOverflow moves the oldest pending batches to the spill file while
// memory holds more than half of capacity, until three quarters are free.
// Without a spill file the records stay in memory (Enqueue drops beyond).
func (u *UsageWriter[E]) spillOverflow() {
	if u.w.spill == nil || u.queued() <= u.capacity/2 {
		return
	}
	for len(u.w.pending) > 0 && u.queued() > u.capacity/4 {
		u.spillFirst()
	}
}

// spillFirst moves the first pending batch to the spill file, or drops and
// counts it when that fails.
func (u *UsageWriter[E]) spillFirst() {
	b := u.w.pending[0]
	if err := u.w.spill.append(u.records(b)); err != nil {
		u.dropped.Add(int64(len(b.entries)))
		if !errors.Is(err, errSpillFull) {
			u.log.Error().Err(err).Msg("telemetry: spilling usage records failed")
		}
	}
	u.spilled.Store(u.w.spill.pending())
	u.release()
}

// logDrops warns about records dropped since the last warning, at most
// once per usageDropLogInterval unless now is set.
func (u *UsageWriter[E]) logDrops(now bool) {
	d := u.dropped.Load()
	if d == u.w.dropLogged || (!now && time.Since(u.w.dropLogAt) < usageDropLogInterval) {
		return
	}
	ev := u.log.Warn().Int64("dropped", d-u.w.dropLogged).Int64("dropped_total", d)
	if u.w.lastErr != nil {
		ev = ev.AnErr("store_error", u.w.lastErr)
	}
	ev.Msg("telemetry: usage records dropped (memory buffer full or spill file unavailable)")
	u.w.dropLogged, u.w.dropLogAt = d, time.Now()
}

// finish is the writer's last cycle: it writes what the store takes before
// the close deadline (less usageSpillReserve) and spills the rest.
func (u *UsageWriter[E]) finish() {
	u.take()
	u.mu.Lock()
	ctx := u.closeCtx
	u.mu.Unlock()
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-usageSpillReserve))
		defer cancel()
	}
	if !u.w.outage || !time.Now().Before(u.w.retryAt) {
		if err := u.writePending(ctx); err != nil {
			u.w.lastErr = err
		}
	}
	var lost int64
	for len(u.w.pending) > 0 {
		n := int64(len(u.w.pending[0].entries))
		if u.w.spill == nil {
			u.dropped.Add(n)
			u.release()
		} else {
			before := u.dropped.Load()
			u.spillFirst()
			n = u.dropped.Load() - before
		}
		lost += n
	}
	if u.w.spill != nil {
		if u.w.spill.pending() > 0 {
			u.log.Warn().Int64("records", u.w.spill.pending()).Str("file", u.w.spill.path).
				Msg("telemetry: usage records left in the spill file; they are written after the next start")
		}
		if err := u.w.spill.close(); err != nil {
			u.log.Error().Err(err).Msg("telemetry: closing the usage spill file")
		}
	}
	u.lost = lost
	u.logDrops(true)
}

// Flush writes every record queued before the call (the spill file's
// included), waiting at most until ctx is done. It returns an error
// wrapping ErrUsageBuffered when the store does not take them.
func (u *UsageWriter[E]) Flush(ctx context.Context) error {
	for {
		reply := make(chan flushResult, 1)
		select {
		case u.flushReq <- reply:
		case <-u.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		var res flushResult
		select {
		case res = <-reply:
		case <-ctx.Done():
			return ctx.Err()
		}
		if res.err != nil || !res.more {
			return res.err
		}
	}
}

// Close stops accepting records and waits until the writer has written
// what the store takes before ctx is done and spilled the rest (waiting up
// to usageCloseGrace more for the spill). It reports records that could be
// neither written nor spilled.
func (u *UsageWriter[E]) Close(ctx context.Context) error {
	u.mu.Lock()
	already := u.closed
	if !already {
		u.closed, u.closeCtx = true, ctx
	}
	u.mu.Unlock()
	if !already {
		close(u.stop)
	}
	select {
	case <-u.done:
	case <-ctx.Done():
		grace := time.NewTimer(usageCloseGrace)
		defer grace.Stop()
		select {
		case <-u.done:
		case <-grace.C:
			return fmt.Errorf("telemetry: flushing usage records: %w (%d still in memory)", ctx.Err(), u.queued())
		}
	}
	if u.lost > 0 {
		return fmt.Errorf("telemetry: %d usage records could be neither written nor spilled", u.lost)
	}
	return nil
}
