package loopback

import (
	"errors"
	"testing"
)

func TestCheckHost(t *testing.T) {
	tests := []struct {
		host        string
		ok          bool
		notLoopback bool // the refusal must wrap ErrNotLoopback
	}{
		{host: "127.0.0.1", ok: true},
		{host: "127.1.2.3", ok: true},
		{host: "127.255.255.254", ok: true},
		{host: "::1", ok: true},
		{host: "::ffff:127.0.0.1", ok: true},
		{host: "localhost", ok: true},
		{host: "LocalHost", ok: true},
		{host: "", notLoopback: true},
		{host: "0.0.0.0", notLoopback: true},
		{host: "::", notLoopback: true},
		{host: "128.0.0.1", notLoopback: true},
		{host: "126.255.255.255", notLoopback: true},
		{host: "10.0.0.1", notLoopback: true},
		{host: "192.168.1.10", notLoopback: true},
		{host: "::ffff:10.0.0.1", notLoopback: true},
		{host: "fe80::1", notLoopback: true},
		{host: "example.com", notLoopback: true},
		{host: "localhost.example.com", notLoopback: true},
		{host: "127.1", notLoopback: true}, // shorthand a resolver might accept; refused, not guessed
		{host: "127.0.0.1.nip.io", notLoopback: true},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			err := CheckHost(tt.host)
			if tt.ok && err != nil {
				t.Fatalf("CheckHost(%q) = %v, want nil", tt.host, err)
			}
			if !tt.ok && err == nil {
				t.Fatalf("CheckHost(%q) = nil, want an error", tt.host)
			}
			if tt.notLoopback && !errors.Is(err, ErrNotLoopback) {
				t.Fatalf("CheckHost(%q) = %v, want it to wrap ErrNotLoopback", tt.host, err)
			}
		})
	}
}

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{addr: "127.0.0.1:8080", ok: true},
		{addr: "127.0.0.1:0", ok: true},
		{addr: "[::1]:9000", ok: true},
		{addr: "localhost:80", ok: true},
		{addr: ":8080"},
		{addr: "0.0.0.0:8080"},
		{addr: "[::]:8080"},
		{addr: "10.1.2.3:8080"},
		{addr: "example.com:443"},
		{addr: "127.0.0.1"},  // no port
		{addr: "127.0.0.1:"}, // empty port
		{addr: "::1:80"},     // ambiguous IPv6 without brackets
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := CheckAddr(tt.addr)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckAddr(%q) = %v, want ok=%v", tt.addr, err, tt.ok)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		raw string
		ok  bool
	}{
		{raw: "http://127.0.0.1:8080", ok: true},
		{raw: "http://127.0.0.1:8080/v1", ok: true},
		{raw: "https://localhost/", ok: true},
		{raw: "http://[::1]:8080/v1/chat/completions", ok: true},
		{raw: "http://api.openai.com/v1"},
		{raw: "https://10.0.0.5:8443"},
		{raw: "http://0.0.0.0:8080"},
		{raw: "http://127.0.0.1.attacker.example/"},
		{raw: "http://user@10.0.0.1:80@127.0.0.1/"}, // userinfo tricks must not pass as loopback
		{raw: "ftp://127.0.0.1/"},
		{raw: "127.0.0.1:8080"}, // no scheme
		{raw: "/v1/chat/completions"},
		{raw: "http://"},
		{raw: "http://%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			u, err := CheckURL(tt.raw)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckURL(%q) = %v, want ok=%v", tt.raw, err, tt.ok)
			}
			if tt.ok && u == nil {
				t.Fatalf("CheckURL(%q) returned a nil URL with no error", tt.raw)
			}
		})
	}
}
