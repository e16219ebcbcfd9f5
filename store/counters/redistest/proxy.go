// Package redistest fakes the ways a Redis server fails, for the tests of
// what depends on one (the counters, the gateway's readiness and error
// paths). A [Proxy] stands between a client and a real Redis: it forwards
// every byte until it is told to hang (connections are accepted and read,
// never answered: a Redis stuck in a long command, a frozen VM, a black-holed
// network) or to go down (connections are refused).
package redistest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy in front of a Redis server whose failure a test
// controls. It is safe for concurrent use; it stops when the test ends.
type Proxy struct {
	t      testing.TB
	target string // host:port of the real Redis; "" for a server that only hangs
	url    *url.URL

	// mu guards ln, hanging and conns.
	mu      sync.Mutex
	ln      net.Listener // nil while down
	hanging bool
	conns   map[net.Conn]struct{}
	closed  bool

	wg sync.WaitGroup // the accept loop and every connection's copiers
}

// NewProxy starts a proxy forwarding to the Redis at redisURL (a redis://
// URL as the tests get it from JUNCTION_TEST_REDIS). Its URL is redisURL
// with the proxy's address.
func NewProxy(t testing.TB, redisURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(redisURL)
	if err != nil || u.Host == "" {
		t.Fatalf("redistest: %q is not a redis://host:port URL: %v", redisURL, err)
	}
	p := &Proxy{t: t, target: u.Host, url: u, conns: map[net.Conn]struct{}{}}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.close)
	return p
}

// NewHung starts a server that accepts connections and reads whatever is
// sent, and never answers: a Redis that is hung.
func NewHung(t testing.TB) *Proxy {
	t.Helper()
	p := &Proxy{t: t, url: &url.URL{Scheme: "redis", Path: "/0"}, conns: map[net.Conn]struct{}{}, hanging: true}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.close)
	return p
}

// URL is the redis:// URL clients use to reach the proxy.
func (p *Proxy) URL() string { return p.url.String() }

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.url.Host }

// Hang stops answering: open connections and new ones are read and never
// answered, and nothing more reaches the real Redis.
func (p *Proxy) Hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hanging = true
}

// Down closes every connection and the listener: clients get "connection
// refused" until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	p.dropConnsLocked()
}

// Up forwards again, on the same address, after Hang or Down. Connections
// that were hanging are closed, as a restarted Redis would.
func (p *Proxy) Up() {
	p.mu.Lock()
	wasDown := p.ln == nil
	if p.hanging {
		p.hanging = false
		p.dropConnsLocked()
	}
	p.mu.Unlock()
	if wasDown {
		p.listen(p.url.Host)
	}
}

// listen starts accepting on addr, retrying briefly when the port is not
// free yet.
func (p *Proxy) listen(addr string) {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("redistest: listen on %s: %v", addr, err)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = ln.Close()
		return
	}
	p.ln = ln
	p.url.Host = ln.Addr().String()
	p.mu.Unlock()
	p.wg.Add(1)
	go p.accept(ln)
}

func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			return
		}
		p.conns[c] = struct{}{}
		hanging := p.hanging
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c, hanging)
	}
}

// serve forwards one client connection, or only reads it when the proxy
// hangs (or has no Redis behind it).
func (p *Proxy) serve(c net.Conn, hanging bool) {
	defer p.wg.Done()
	defer p.forget(c)
	if hanging || p.target == "" {
		_, _ = io.Copy(io.Discard, c)
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	defer p.forget(up)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.pipe(up, c)
		_ = up.Close()
	}()
	p.pipe(c, up)
	_ = c.Close()
	<-done
}

// pipe copies from src to dst while the proxy forwards; while it hangs, what
// arrives is read and dropped.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.isHanging() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) isHanging() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hanging
}

func (p *Proxy) forget(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) dropConnsLocked() {
	for c := range p.conns {
		_ = c.Close()
	}
}

// close stops the proxy and waits for its goroutines.
func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	p.dropConnsLocked()
	p.mu.Unlock()
	p.wg.Wait()
}
