package mcp

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzOpenRequestState: opening a client's requestState never panics, and
// only a token this sealer issued, byte for byte, opens: forged, truncated,
// re-encoded or random states are refused with errBadState.
func FuzzOpenRequestState(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	sealer := stateSealer{key: key}
	other := stateSealer{key: bytes.Repeat([]byte{8}, 32)}
	issued := map[string]requestState{}
	for _, st := range []requestState{
		{V: stateVersion, Kind: stateParked, Replica: "r1", Pending: "p1", Owner: "key:abc", Tool: "gh__list", Round: 1, Expires: 1893456000},
		{V: stateVersion, Kind: stateWrapped, Upstream: "opaque-upstream-state", Owner: "admin", Tool: "fs__read", Expires: 1893456000},
		{V: stateVersion, Kind: stateParked, Replica: "r2", Pending: "p2", Owner: "team:x", Tool: "t", Round: 7, Expires: 1},
	} {
		tok := sealer.seal(st)
		issued[tok] = st
		f.Add(tok)
		f.Add(tok[:len(tok)-1])                            // truncated MAC
		f.Add(tok + "A")                                   // extended MAC
		f.Add(tok[1:])                                     // truncated payload
		f.Add(nonCanonical(tok))                           // the same bytes, encoded with other unused bits
		f.Add(other.seal(st))                              // sealed with another key
		f.Add(tok[:len(tok)/2] + "x" + tok[len(tok)/2+1:]) // altered
	}
	// A state of another version, properly sealed, is refused too.
	f.Add(sealer.seal(requestState{V: stateVersion + 1, Kind: stateParked}))
	for _, s := range []string{"", ".", "..", "a.b", "e30.", ".e30", "e30.e30", "not base64!.x", "====.====",
		base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"k":"park"}`)) + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 32))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		st, err := sealer.open(token)
		want, ok := issued[token]
		switch {
		case ok && (err != nil || st != want):
			t.Fatalf("an issued state does not open: %+v %v, want %+v", st, err, want)
		case !ok && err == nil:
			t.Fatalf("a state this sealer did not issue opened: %q -> %+v", token, st)
		case !ok && (err != errBadState || st != requestState{}):
			t.Fatalf("%q: %+v %v, want errBadState", token, st, err)
		}
	})
}

// nonCanonical re-encodes the last character of tok's MAC (43 characters
// for 32 bytes, so 2 unused bits) with its lowest bit flipped: the same
// bytes to a lenient base64 decoder.
func nonCanonical(tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(alphabet[i^1])
}
