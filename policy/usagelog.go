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
// path. enqueue never blocks and never wakes the writer for a single
// record: it appends under a mutex, and the writer wakes on its interval or
// when a batch is full. When the buffer holds its capacity, new records are
// dropped and counted. close writes what is left.
type usageLog struct {
	// insert writes one batch; the store's InsertUsage.
	insert   func(context.Context, []store.UsageRecord) error
	capacity int
	batch    int
	interval time.Duration
	log      zerolog.Logger

	written atomic.Int64
	dropped atomic.Int64

	mu     sync.Mutex // guards buf and closed
	buf    []store.UsageRecord
	closed bool

	// kick wakes the writer early (a full batch); buffered, never blocks.
	kick chan struct{}
	// flushReq asks the writer to write what it holds now; it closes the reply.
	flushReq chan chan struct{}
	stop     chan struct{}
	done     chan struct{}
}

func newUsageLog(st *store.Store, m MeterConfig, log zerolog.Logger) *usageLog {
	u := &usageLog{
		insert: st.InsertUsage, capacity: m.UsageQueue, batch: m.UsageBatch, interval: m.UsageFlushInterval,
		log: log, buf: make([]store.UsageRecord, 0, m.UsageBatch),
		kick: make(chan struct{}, 1), flushReq: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go u.run()
	return u
}

func (u *usageLog) enqueue(rec store.UsageRecord) {
	u.mu.Lock()
	if u.closed || len(u.buf) >= u.capacity {
		u.mu.Unlock()
		u.dropped.Add(1)
		return
	}
	u.buf = append(u.buf, rec)
	full := len(u.buf) == u.batch
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
	return len(u.buf)
}

// take swaps the buffer for spare and returns what it held.
func (u *usageLog) take(spare []store.UsageRecord) []store.UsageRecord {
	u.mu.Lock()
	defer u.mu.Unlock()
	got := u.buf
	u.buf = spare[:0]
	return got
}

// run writes the buffer every interval, when a batch is full, on a flush
// request, and a last time on close.
func (u *usageLog) run() {
	defer close(u.done)
	tick := time.NewTicker(u.interval)
	defer tick.Stop()
	spare := make([]store.UsageRecord, 0, u.batch)
	writeAll := func() {
		got := u.take(spare)
		for len(got) > 0 {
			n := min(len(got), u.batch)
			u.write(got[:n])
			got = got[n:]
		}
		spare = got[:0]
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
