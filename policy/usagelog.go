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
// path. enqueue never blocks: when the queue is full the record is dropped
// and counted. close drains the queue into the store.
type usageLog struct {
	// insert writes one batch; the store's InsertUsage.
	insert   func(context.Context, []store.UsageRecord) error
	ch       chan store.UsageRecord
	batch    int
	interval time.Duration
	log      zerolog.Logger

	written atomic.Int64
	dropped atomic.Int64

	// mu guards closed, so that no enqueue sends on a closed channel.
	mu     sync.RWMutex
	closed bool
	done   chan struct{}
	// flushReq asks run to write what it holds now; run closes the reply.
	flushReq chan chan struct{}
}

func newUsageLog(st *store.Store, m MeterConfig, log zerolog.Logger) *usageLog {
	u := &usageLog{
		insert: st.InsertUsage, ch: make(chan store.UsageRecord, m.UsageQueue), batch: m.UsageBatch,
		interval: m.UsageFlushInterval, log: log, done: make(chan struct{}),
		flushReq: make(chan chan struct{}),
	}
	go u.run()
	return u
}

func (u *usageLog) enqueue(rec store.UsageRecord) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if u.closed {
		u.dropped.Add(1)
		return
	}
	select {
	case u.ch <- rec:
	default:
		u.dropped.Add(1)
	}
}

// run collects records into batches and writes each when it is full or
// when the oldest record has waited the flush interval.
func (u *usageLog) run() {
	defer close(u.done)
	buf := make([]store.UsageRecord, 0, u.batch)
	timer := time.NewTimer(u.interval)
	timer.Stop()
	for {
		select {
		case rec, ok := <-u.ch:
			if !ok {
				u.write(buf)
				return
			}
			if len(buf) == 0 {
				timer.Reset(u.interval)
			}
			buf = append(buf, rec)
			if len(buf) >= u.batch {
				timer.Stop()
				u.write(buf)
				buf = buf[:0]
			}
		case <-timer.C:
			u.write(buf)
			buf = buf[:0]
		case reply := <-u.flushReq:
			// Take what is queued now too, write it all, then answer.
			closed := false
		drain:
			for {
				select {
				case rec, ok := <-u.ch:
					if !ok {
						closed = true
						break drain
					}
					buf = append(buf, rec)
				default:
					break drain
				}
			}
			timer.Stop()
			u.write(buf)
			buf = buf[:0]
			close(reply)
			if closed {
				return
			}
		}
	}
}

// write stores one batch, retrying briefly; a batch the store keeps
// refusing is dropped and counted rather than held forever.
func (u *usageLog) write(buf []store.UsageRecord) {
	if len(buf) == 0 {
		return
	}
	var err error
	for attempt := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = u.insert(ctx, buf)
		cancel()
		if err == nil {
			u.written.Add(int64(len(buf)))
			return
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	u.dropped.Add(int64(len(buf)))
	u.log.Error().Err(err).Int("records", len(buf)).Msg("policy: writing usage records failed; dropped them")
}

// flush writes every record queued before the call (those batched but not
// yet written included), waiting at most until ctx is done.
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

// close stops accepting records and waits until every queued record is
// written or ctx is done.
func (u *usageLog) close(ctx context.Context) error {
	u.mu.Lock()
	if !u.closed {
		u.closed = true
		close(u.ch)
	}
	u.mu.Unlock()
	select {
	case <-u.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("policy: flushing usage records: %w (%d still queued)", ctx.Err(), len(u.ch))
	}
}
