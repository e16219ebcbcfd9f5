package mcp

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// Public names. Every upstream tool and prompt is offered under a public name
// that clients (and LLM providers, which reject anything else) accept:
//
//   - prefix + "__" + name, or the upstream's own name when the server's
//     prefix is empty;
//   - only [A-Za-z0-9_.-]: every other character (byte of a multi-byte
//     rune included, so that different inputs stay different) becomes '_';
//   - at most MaxNameLen characters: a longer name is cut and ends in "-" and
//     eight hex digits of SHA-256(server + "\x00" + name), so it is the same
//     on every replica and after every restart;
//   - unique: when two upstream entries produce the same public name, the
//     entry of the server that sorts first keeps it and every later one gets
//     the hash suffix (see assignNames).
//
// The upstream's original name is kept beside the public name and is what a
// call sends upstream.

// MaxNameLen is the longest public tool or prompt name.
const MaxNameLen = 64

// prefixSep joins a server's prefix and an upstream name.
const prefixSep = "__"

// hashLen is the number of hex digits of the disambiguating suffix.
const hashLen = 8

// sanitize replaces every byte outside [A-Za-z0-9_.-] with '_'.
func sanitize(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if !nameByte(c) {
			b[i] = '_'
		}
	}
	return string(b)
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// nameHash is the stable short hash of one upstream entry.
func nameHash(server, name string) string {
	h := sha256.Sum256([]byte(server + "\x00" + name))
	return hex.EncodeToString(h[:hashLen/2])
}

// baseName is the public name of an upstream entry before collisions are
// resolved: prefixed, sanitized, and shortened with a hash suffix when it is
// too long.
func baseName(prefix, server, name string) string {
	n := name
	if prefix != "" {
		n = prefix + prefixSep + name
	}
	n = sanitize(n)
	if len(n) > MaxNameLen {
		return hashedName(n, server, name)
	}
	return n
}

// hashedName cuts n so that "-" and the entry's hash fit in MaxNameLen.
func hashedName(n, server, name string) string {
	keep := MaxNameLen - 1 - hashLen
	if len(n) > keep {
		n = n[:keep]
	}
	return n + "-" + nameHash(server, name)
}

// nameKey identifies one upstream entry.
type nameKey struct{ server, name string }

// namedEntry is one upstream entry to name, in catalog order.
type namedEntry struct {
	prefix, server, name string
}

// assignNames gives every entry its public name. Entries are taken in
// (server, name) order whatever order they come in, so the result depends on
// nothing but the catalog's contents: the first server to produce a name
// keeps it, every later producer gets a hash-suffixed name. Should even that
// collide (a crafted upstream name), a counter is folded into the hash until
// the name is free.
func assignNames(entries []namedEntry) map[nameKey]string {
	entries = slices.Clone(entries)
	slices.SortStableFunc(entries, func(a, b namedEntry) int {
		if c := strings.Compare(a.server, b.server); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	out := make(map[nameKey]string, len(entries))
	taken := make(map[string]bool, len(entries))
	// Base names are claimed first, so a hashed name never steals a base
	// name that a later entry would have produced.
	base := make([]string, len(entries))
	claimed := make(map[string]nameKey, len(entries))
	for i, e := range entries {
		base[i] = baseName(e.prefix, e.server, e.name)
		if _, ok := claimed[base[i]]; !ok {
			claimed[base[i]] = nameKey{e.server, e.name}
		}
	}
	for _, n := range base {
		taken[n] = true
	}
	for i, e := range entries {
		k := nameKey{e.server, e.name}
		if _, dup := out[k]; dup {
			continue // the same entry listed twice: keep the first
		}
		if claimed[base[i]] == k {
			out[k] = base[i]
			continue
		}
		full := sanitize(e.name)
		if e.prefix != "" {
			full = sanitize(e.prefix + prefixSep + e.name)
		}
		n := hashedName(full, e.server, e.name)
		for salt := 1; taken[n]; salt++ {
			n = hashedName(full, e.server, e.name+"\x00"+strconv.Itoa(salt))
		}
		taken[n] = true
		out[k] = n
	}
	return out
}
