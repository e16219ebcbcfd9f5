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
	runCases(t, "CheckAddr", func(_ *testing.T, addr string) error { return CheckAddr(addr) }, []okCase{
		{in: "127.0.0.1:8080", ok: true},
		{in: "127.0.0.1:0", ok: true},
		{in: "[::1]:9000", ok: true},
		{in: "localhost:80", ok: true},
		{in: ":8080"},
		{in: "0.0.0.0:8080"},
		{in: "[::]:8080"},
		{in: "10.1.2.3:8080"},
		{in: "example.com:443"},
		{in: "127.0.0.1"},  // no port
		{in: "127.0.0.1:"}, // empty port
		{in: "::1:80"},     // ambiguous IPv6 without brackets
	})
}

func TestCheckURL(t *testing.T) {
	runCases(t, "CheckURL", func(t *testing.T, raw string) error {
		u, err := CheckURL(raw)
		if err == nil && u == nil {
			t.Fatalf("CheckURL(%q) returned a nil URL with no error", raw)
		}
		return err
	}, []okCase{
		{in: "http://127.0.0.1:8080", ok: true},
		{in: "http://127.0.0.1:8080/v1", ok: true},
		{in: "https://localhost/", ok: true},
		{in: "http://[::1]:8080/v1/chat/completions", ok: true},
		{in: "http://api.openai.com/v1"},
		{in: "https://10.0.0.5:8443"},
		{in: "http://0.0.0.0:8080"},
		{in: "http://127.0.0.1.attacker.example/"},
		{in: "http://user@10.0.0.1:80@127.0.0.1/"}, // userinfo tricks must not pass as loopback
		{in: "ftp://127.0.0.1/"},
		{in: "127.0.0.1:8080"}, // no scheme
		{in: "/v1/chat/completions"},
		{in: "http://"},
		{in: "http://%zz"},
	})
}

// okCase is an input of a check and whether the check accepts it.
type okCase struct {
	in string
	ok bool
}

// runCases runs check, named name in messages, on each case's input in a
// subtest of its own (which check is given) and fails when it accepts or refuses against the case.
func runCases(t *testing.T, name string, check func(t *testing.T, in string) error, cases []okCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.in, func(t *testing.T) {
			if err := check(t, tt.in); (err == nil) != tt.ok {
				t.Fatalf("%s(%q) = %v, want ok=%v", name, tt.in, err, tt.ok)
			}
		})
	}
}
