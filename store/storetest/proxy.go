package storetest

import (
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a database server, for tests of what a
// store does when its database goes away or hangs: Stop closes the listener
// and every connection (the database is gone: connections are refused),
// Start listens again on the same address, and Freeze keeps accepting and
// holding connections but forwards nothing (a frozen database) until Thaw.
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	mu sync.Mutex // guards ln, conns, frozen and thawed
	ln net.Listener
	// conns are the open connections, both sides, for Stop to close.
	conns map[net.Conn]struct{}
	// frozen is set while nothing is forwarded; thawed is closed on Thaw.
	frozen bool
	thawed chan struct{}
	wg     sync.WaitGroup // the accept loop and the pumps
}

// NewProxy starts a proxy on 127.0.0.1 to target (host:port) and stops it
// when t ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p := &Proxy{t: t, target: target, conns: map[net.Conn]struct{}{}, thawed: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("storetest: proxy listen: %v", err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() {
		p.Thaw()
		p.Stop()
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// hostPort finds the host and port of a key=value DSN.
var hostPort = regexp.MustCompile(`\b(host|port)=\S+`)

// DSN returns the Postgres dsn (URL or key=value form) pointed at the proxy.
func (p *Proxy) DSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			p.t.Fatalf("storetest: proxy DSN: %v", err)
		}
		u.Host = p.addr
		return u.String()
	}
	host, port, _ := net.SplitHostPort(p.addr)
	return hostPort.ReplaceAllString(dsn, "") + " host=" + host + " port=" + port
}

// Stop closes the listener and every connection: new connections are
// refused until Start.
func (p *Proxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// Start listens again on the proxy's address after Stop.
func (p *Proxy) Start() {
	p.t.Helper()
	p.mu.Lock()
	running := p.ln != nil
	p.mu.Unlock()
	if running {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("storetest: proxy listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// Freeze stops forwarding: connections stay open (and new ones are
// accepted) but no byte passes until Thaw.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.frozen {
		p.frozen, p.thawed = true, make(chan struct{})
	}
}

// Thaw resumes forwarding after Freeze.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen {
		p.frozen = false
		close(p.thawed)
	}
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			if !p.track(c, up) {
				return
			}
			p.wg.Add(2)
			go p.pump(up, c)
			go p.pump(c, up)
		}
	}()
}

// track registers a connection pair, or closes it when the proxy was
// stopped meanwhile.
func (p *Proxy) track(c, up net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		_ = c.Close()
		_ = up.Close()
		return false
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	return true
}

// gate blocks while the proxy is frozen.
func (p *Proxy) gate() {
	p.mu.Lock()
	frozen, thawed := p.frozen, p.thawed
	p.mu.Unlock()
	if frozen {
		<-thawed
	}
}

// pump copies src to dst, holding bytes while frozen, and closes both when
// either side ends.
func (p *Proxy) pump(dst, src net.Conn) {
	defer p.wg.Done()
	defer func() {
		_ = dst.Close()
		_ = src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// ProxyPostgres starts a Proxy in front of db's Postgres server and returns
// it with a copy of db whose Config connects through it (Raw still connects
// directly, to inspect the database while the proxy is down).
func ProxyPostgres(t testing.TB, db Database) (*Proxy, Database) {
	t.Helper()
	if db.Config.Postgres == nil {
		t.Fatal("storetest: ProxyPostgres needs a Postgres database")
	}
	dsn := db.Config.Postgres.DSN
	target := "127.0.0.1:5432"
	if u, err := url.Parse(dsn); err == nil && u.Host != "" {
		target = u.Host
		if u.Port() == "" {
			target = net.JoinHostPort(u.Hostname(), "5432")
		}
	}
	p := NewProxy(t, target)
	pg := *db.Config.Postgres
	pg.DSN = p.DSN(dsn)
	db.Config.Postgres = &pg
	return p, db
}
