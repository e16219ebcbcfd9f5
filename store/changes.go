package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Change tells subscribers that configuration of a kind changed ("resource:<kind>", "policy").
// It carries no data: a subscriber reloads what the topic names from the store.
type Change struct {
	// Topic names what changed: [ResourceTopic](kind) for resources of one
	// kind, [TopicPolicy] for policy rules, or [TopicAll] when events may have
	// been missed and everything must be reloaded.
	Topic string
}

// Change topics.
const (
	// TopicPolicy is the topic of every change to policy rules.
	TopicPolicy = "policy"
	// TopicAll asks a subscriber to reload everything: it is sent when events
	// may have been lost (a slow subscriber's buffer overflowed, or a Postgres
	// listener reconnected).
	TopicAll = "*"
	// resourceTopicPrefix starts the topic of a resource kind.
	resourceTopicPrefix = "resource:"
)

// ResourceTopic returns the topic of changes to resources of kind.
func ResourceTopic(kind string) string { return resourceTopicPrefix + kind }

const (
	// changeBuffer is the capacity of each subscription's channel.
	changeBuffer = 16
	// pgChangeChannel is the Postgres NOTIFY channel the store writes and
	// listens on. Channels are database-wide, so each payload starts with the
	// writer's schema (see qNotifyChange) and a listener ignores other schemas.
	pgChangeChannel = "junction_changes"
	// listenerPingInterval is how long a Postgres listener waits for a
	// notification before checking its connection with a ping, so that a
	// connection that died silently (no TCP reset) is noticed and replaced.
	listenerPingInterval = 30 * time.Second
	// listenerPingTimeout bounds that ping, and closing a listener connection.
	listenerPingTimeout = 5 * time.Second
	// listenerMinBackoff and listenerMaxBackoff bound the wait between a
	// listener's attempts to reconnect; it doubles after each failure.
	listenerMinBackoff = 100 * time.Millisecond
	listenerMaxBackoff = 5 * time.Second
)

var (
	// qNotifyChange queues a change notification inside the writing
	// transaction; Postgres delivers it to every listener at COMMIT and drops
	// it on ROLLBACK. The payload is "<schema>:<topic>".
	qNotifyChange = newQuery(`SELECT pg_notify('` + pgChangeChannel + `', COALESCE(current_schema(), '') || ':' || ?)`)
	// qListenerSchema reads the schema a listener connection's payloads must
	// start with; it is the same as the writers' because the connection uses
	// the same configuration (and so the same search_path).
	qListenerSchema = `SELECT COALESCE(current_schema(), '')`
)

// Subscribe returns a channel that receives a [Change] after every committed
// write to resources or policy rules, until ctx is done or the store closes;
// then the channel is closed. A write that commits after Subscribe returns is
// always reported.
//
// The channel is buffered and never blocks a writer. A subscriber that falls
// behind loses individual events, but never the fact that something changed:
// when its buffer is full the pending events are replaced by one
// Change{Topic: TopicAll}, so the last event it receives always comes after
// the last change. Writes that change nothing (a SyncFileResources or
// SyncFilePolicyRules that finds the store already in the wanted state)
// publish nothing.
//
// With SQLite, changes are fanned out in-process to the subscribers of this
// Store only (another process on the same file is not told). With Postgres,
// every writer sends NOTIFY in its transaction and each subscription holds its
// own connection running LISTEN, so it hears the writes of every Store on the
// same database schema — this process's included, exactly once, through
// Postgres and not in-process. If that connection is lost, the subscription
// reconnects with backoff and then sends Change{Topic: TopicAll}, since events
// may have been missed meanwhile. The subscription's goroutine is owned by ctx
// and by the Store: Close ends it and waits for it.
func (s *Store) Subscribe(ctx context.Context) (<-chan Change, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: subscribe: %w", err)
	}
	if s.dialect == dialectPostgres {
		return s.subscribePostgres(ctx)
	}
	return s.changes.subscribeLocal(ctx)
}

// inChangeTx runs fn in a write transaction (see inWriteTx) and, if fn
// reports that it changed something, publishes a Change on topic: with
// Postgres by NOTIFY inside the transaction, with SQLite to this Store's
// subscribers after the commit.
func (s *Store) inChangeTx(ctx context.Context, topic string, fn func(tx *sql.Tx) (changed bool, err error)) error {
	var changed bool
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		c, err := fn(tx)
		if err != nil {
			return err
		}
		changed = c
		if changed && s.dialect == dialectPostgres {
			if _, err := tx.ExecContext(ctx, qNotifyChange.text(s.dialect), topic); err != nil {
				return fmt.Errorf("store: notify %s: %w", topic, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if changed && s.dialect == dialectSQLite {
		s.changes.publish(Change{Topic: topic})
	}
	return nil
}

// changeFeed tracks a Store's subscriptions. The zero value is ready to use.
type changeFeed struct {
	mu sync.Mutex
	// closed is set by close; no subscription is added after it.
	closed bool
	// local are the SQLite subscriptions, fed by publish.
	local map[*localSub]struct{}
	// listeners cancel the Postgres subscriptions' contexts.
	listeners map[*pgListener]struct{}
	// wg counts Postgres subscriptions being set up or running.
	wg sync.WaitGroup
}

// localSub is one in-process subscription.
type localSub struct {
	ch chan Change
	// stop unregisters the ctx.Done callback that ends the subscription.
	stop func() bool
}

// subscribeLocal adds an in-process subscription that ends when ctx is done.
func (f *changeFeed) subscribeLocal(ctx context.Context) (<-chan Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	sub := &localSub{ch: make(chan Change, changeBuffer)}
	if f.local == nil {
		f.local = make(map[*localSub]struct{})
	}
	f.local[sub] = struct{}{}
	// The callback runs in its own goroutine, so registering it under f.mu
	// cannot deadlock; it waits for the lock like any other caller.
	sub.stop = context.AfterFunc(ctx, func() { f.endLocal(sub) })
	return sub.ch, nil
}

// endLocal removes sub and closes its channel, if it is still subscribed.
func (f *changeFeed) endLocal(sub *localSub) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.local[sub]; ok {
		delete(f.local, sub)
		close(sub.ch)
	}
}

// publish sends c to every in-process subscription without blocking.
func (f *changeFeed) publish(c Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for sub := range f.local {
		deliver(sub.ch, c)
	}
}

// addListener registers a Postgres subscription being set up; it fails with
// ErrClosed once the feed is closed. The caller must call removeListener when
// the subscription ends.
func (f *changeFeed) addListener(l *pgListener) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	if f.listeners == nil {
		f.listeners = make(map[*pgListener]struct{})
	}
	f.listeners[l] = struct{}{}
	f.wg.Add(1)
	return nil
}

// removeListener unregisters l, whose goroutine (if any) has finished.
func (f *changeFeed) removeListener(l *pgListener) {
	f.mu.Lock()
	delete(f.listeners, l)
	f.mu.Unlock()
	f.wg.Done()
}

// close ends every subscription: in-process channels are closed at once,
// Postgres listeners are cancelled and waited for.
func (f *changeFeed) close() {
	f.mu.Lock()
	f.closed = true
	for sub := range f.local {
		sub.stop()
		delete(f.local, sub)
		close(sub.ch)
	}
	for l := range f.listeners {
		l.cancel()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// deliver sends c on ch without blocking. ch must have only one sender at a
// time (the caller holds the feed's lock, or owns ch). If ch's buffer is full,
// what it holds is discarded and replaced by a single TopicAll, so the
// subscriber still learns, after the fact, that something changed.
func deliver(ch chan Change, c Change) {
	select {
	case ch <- c:
		return
	default:
	}
	for drained := false; !drained; {
		select {
		case <-ch:
		default:
			drained = true
		}
	}
	// The buffer is empty and only this goroutine sends, so this cannot block.
	ch <- Change{Topic: TopicAll}
}

// pgListener is one Postgres subscription: a connection running LISTEN and
// the goroutine that forwards its notifications.
type pgListener struct {
	s      *Store
	ch     chan Change
	cancel context.CancelFunc
	// schema is the current_schema() whose notifications this listener keeps.
	schema string
}

// subscribePostgres opens a listening connection and starts forwarding its
// notifications. It returns once LISTEN is in effect, so no later write is
// missed.
func (s *Store) subscribePostgres(ctx context.Context) (<-chan Change, error) {
	lctx, cancel := context.WithCancel(ctx)
	l := &pgListener{s: s, ch: make(chan Change, changeBuffer), cancel: cancel}
	if err := s.changes.addListener(l); err != nil {
		cancel()
		return nil, err
	}
	conn, err := l.connect(lctx)
	if err != nil {
		cancel()
		s.changes.removeListener(l)
		if s.closed.Load() {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("store: subscribe: %w", err)
	}
	go l.run(lctx, conn)
	return l.ch, nil
}

// connect opens a new connection with the store's configuration and starts
// listening on it.
func (l *pgListener) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg := l.s.pgConfig
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect to %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	var schema string
	err = conn.QueryRow(ctx, qListenerSchema).Scan(&schema)
	if err == nil {
		_, err = conn.Exec(ctx, "LISTEN "+pgx.Identifier{pgChangeChannel}.Sanitize())
	}
	if err != nil {
		closeListenerConn(conn)
		return nil, fmt.Errorf("listen on %s: %w", pgChangeChannel, err)
	}
	l.schema = schema
	return conn, nil
}

// run forwards notifications from conn to l.ch until ctx is done, replacing
// the connection whenever it fails, then closes the channel.
func (l *pgListener) run(ctx context.Context, conn *pgx.Conn) {
	defer l.s.changes.removeListener(l)
	defer close(l.ch)
	defer l.cancel()
	for {
		l.forward(ctx, conn)
		closeListenerConn(conn)
		if conn = l.reconnect(ctx); conn == nil {
			return
		}
		// Events sent while no connection was listening are lost.
		deliver(l.ch, Change{Topic: TopicAll})
	}
}

// forward delivers conn's notifications until ctx is done or the connection
// fails.
func (l *pgListener) forward(ctx context.Context, conn *pgx.Conn) {
	prefix := l.schema + ":"
	for {
		wctx, cancel := context.WithTimeout(ctx, listenerPingInterval)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			// Quiet for a while: make sure the connection is still alive.
			pctx, cancel := context.WithTimeout(ctx, listenerPingTimeout)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
			continue
		case err != nil:
			return
		}
		if topic, ok := strings.CutPrefix(n.Payload, prefix); ok && n.Channel == pgChangeChannel {
			deliver(l.ch, Change{Topic: topic})
		}
	}
}

// reconnect opens a new listening connection, retrying with backoff, and
// returns nil if ctx is done first.
func (l *pgListener) reconnect(ctx context.Context) *pgx.Conn {
	delay := listenerMinBackoff
	for ctx.Err() == nil {
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		if conn, err := l.connect(ctx); err == nil {
			return conn
		}
		delay = min(2*delay, listenerMaxBackoff)
	}
	return nil
}

// closeListenerConn closes conn, waiting at most listenerPingTimeout for the
// server to acknowledge.
func closeListenerConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), listenerPingTimeout)
	defer cancel()
	_ = conn.Close(ctx)
}
