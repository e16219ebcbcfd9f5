package policy

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/store"
)

// usageLog writes usage records to the store in batches, off the request
// path. enqueue never blocks, never allocates in the steady state and never
// wakes the writer for a single record: it appends to the batch being filled
// under a mutex, and the writer wakes on its interval or when a batch is
// full. Batches have a fixed capacity and are reused once written, so a
// record is copied once, into its batch, and the buffer never grows by
// reallocation. When capacity records are waiting, new ones are dropped and
// counted. close writes what is left.
type usageLog struct {
	// insert writes one batch; the store's InsertUsage.
	insert   func(context.Context, []store.UsageRecord) error
	capacity int
	batch    int // records per batch: min(UsageBatch, UsageQueue)
	interval time.Duration
	log      zerolog.Logger

	written atomic.Int64
	dropped atomic.Int64

	mu sync.Mutex // guards cur, full, free, waiting and closed
	// cur is the batch being filled (nil until the first record after a
	// take); its capacity is batch.
	cur []usageEntry
	// full holds filled batches the writer has not taken yet.
	full [][]usageEntry
	// free holds written, cleared batches for reuse, as many as the queue
	// can fill: after a burst, the memory of a full queue stays allocated.
	free [][]usageEntry
	// waiting counts the records in cur and full.
	waiting int
	closed  bool

	// kick wakes the writer early (a full batch); buffered, never blocks.
	kick chan struct{}
	// flushReq asks the writer to write what it holds now; it closes the reply.
	flushReq chan chan struct{}
	stop     chan struct{}
	done     chan struct{}
}

// usageEntry is a usage record as queued: the identity stands in for the
// key and team fields, and the writer builds the store's record off the
// request path. It is smaller than a store.UsageRecord and holds fewer
// pointers, so queueing it copies less and costs fewer write barriers.
type usageEntry struct {
	id        *Identity
	time      time.Time
	duration  time.Duration
	kind      Kind
	requestID string
	model     string // empty for a tool call
	server    string
	tool      string
	status    string
	usage     [3]int64 // prompt, completion and cached tokens
	micros    int64
}

// record is the store's record of u.
func (u *usageEntry) record() store.UsageRecord {
	return store.UsageRecord{
		Time: u.time, RequestID: u.requestID, KeyID: u.id.KeyID(), KeyName: u.id.Name(),
		Team: u.id.TeamName(), Customer: u.id.Customer(), Kind: string(u.kind), Model: u.model,
		Server: u.server, Tool: u.tool, PromptTokens: u.usage[0], CompletionTokens: u.usage[1],
		CachedTokens: u.usage[2], CostMicros: u.micros, Status: u.status, Duration: u.duration,
	}
}

func newUsageLog(st *store.Store, m MeterConfig, log zerolog.Logger) *usageLog {
	u := &usageLog{
		insert: st.InsertUsage, capacity: m.UsageQueue, batch: max(1, min(m.UsageBatch, m.UsageQueue)),
		interval: m.UsageFlushInterval, log: log,
		kick: make(chan struct{}, 1), flushReq: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go u.run()
	return u
}

// enqueue queues rec, or drops and counts it when the queue is full or
// closed. It takes rec by pointer so that the record is copied once, into
// its batch.
func (u *usageLog) enqueue(rec *usageEntry) {
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
			u.cur = make([]usageEntry, 0, u.batch)
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

// queued is the number of records waiting.
func (u *usageLog) queued() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.waiting
}

// take moves every waiting batch, the partly filled one last, into into
// and returns it.
func (u *usageLog) take(into [][]usageEntry) [][]usageEntry {
	u.mu.Lock()
	defer u.mu.Unlock()
	into = append(into, u.full...)
	clear(u.full)
	u.full = u.full[:0]
	if len(u.cur) > 0 {
		into = append(into, u.cur)
		u.cur = nil
	}
	u.waiting = 0
	return into
}

// recycle returns a written batch for reuse, cleared so that it holds no
// strings alive.
func (u *usageLog) recycle(b []usageEntry) {
	clear(b)
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.free)*u.batch < u.capacity {
		u.free = append(u.free, b[:0])
	}
}

// run writes the waiting batches every interval, when a batch is full, on a
// flush request, and a last time on close.
func (u *usageLog) run() {
	defer close(u.done)
	tick := time.NewTicker(u.interval)
	defer tick.Stop()
	var taken [][]usageEntry
	records := make([]store.UsageRecord, 0, u.batch)
	writeAll := func() {
		taken = u.take(taken[:0])
		for i, b := range taken {
			records = records[:0]
			for j := range b {
				records = append(records, b[j].record())
			}
			u.write(records)
			clear(records)
			u.recycle(b)
			taken[i] = nil
		}
	}
	for {
		select {
		case <-tick.C:
			writeAll()
		case <-u.kick:
			writeAll()
		case reply := <-u.flushReq:
			writeAll()
			close(reply)
		case <-u.stop:
			writeAll()
			return
		}
	}
}

// write stores one batch, retrying briefly; a batch the store keeps
// refusing is dropped and counted rather than held forever.
func (u *usageLog) write(batch []store.UsageRecord) {
	var err error
	for attempt := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = u.insert(ctx, batch)
		cancel()
		if err == nil {
			u.written.Add(int64(len(batch)))
			return
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	u.dropped.Add(int64(len(batch)))
	u.log.Error().Err(err).Int("records", len(batch)).Msg("policy: writing usage records failed; dropped them")
}

// flush writes every record queued before the call, waiting at most until
// ctx is done.
func (u *usageLog) flush(ctx context.Context) error {
	reply := make(chan struct{})
	select {
	case u.flushReq <- reply:
	case <-u.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-reply:
	case <-u.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// close stops accepting records and waits until the writer has written
// what was queued, or ctx is done.
func (u *usageLog) close(ctx context.Context) error {
	u.mu.Lock()
	already := u.closed
	u.closed = true
	u.mu.Unlock()
	if !already {
		close(u.stop)
	}
	select {
	case <-u.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("policy: flushing usage records: %w (%d still queued)", ctx.Err(), u.queued())
	}
}
