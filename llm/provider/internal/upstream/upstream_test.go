package upstream

import (
	"net/http"
	"testing"
)

func TestClientOr(t *testing.T) {
	c := &http.Client{}
	if ClientOr(c) != c {
		t.Error("ClientOr replaced a given client")
	}
	d := ClientOr(nil)
	if d == nil || d.Transport == nil || d.Timeout != 0 {
		t.Errorf("default client %+v", d)
	}
	if tr, ok := d.Transport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
}
