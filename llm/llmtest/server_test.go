package llmtest

import (
	"net/http"
	"strings"
	"testing"
)

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:9001", true},
		{"127.1.2.3:0", true},
		{"[::1]:9001", true},
		{"localhost:9001", true},
		{":9001", false},
		{"0.0.0.0:9001", false},
		{"[::]:9001", false},
		{"10.0.0.1:9001", false},
		{"example.com:9001", false},
		{"127.0.0.1", false}, // no port
	}
	for _, tt := range tests {
		err := CheckLoopback(tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok=%v", tt.addr, err, tt.ok)
		}
	}
}

func TestListenRefusesRemote(t *testing.T) {
	srv, err := Listen("0.0.0.0:0")
	if err == nil {
		srv.Close()
		t.Fatal("Listen bound all interfaces without WithAllowRemote")
	}
	if !strings.Contains(err.Error(), "not loopback") {
		t.Errorf("error %v", err)
	}
}

func TestListen(t *testing.T) {
	srv, err := Listen("127.0.0.1:0", WithModels("only-model"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") || srv.URL != "http://"+srv.Addr {
		t.Errorf("URL %q, Addr %q", srv.URL, srv.Addr)
	}
	status, _, body := do(t, newRequest(t.Context(), openAI, srv.URL, string(EndpointModels), testKey, ""))
	if status != http.StatusOK || !strings.Contains(string(body), `"only-model"`) {
		t.Errorf("models: %d %s", status, body)
	}
}
