package respcache

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzCacheHeaders: cacheHeaders never panics, fails only with a 400, and
// what it accepts is in range: a TTL from one second to one year (0 only
// when the header is absent) and a threshold in (0, 1] (0 only when absent).
func FuzzCacheHeaders(f *testing.F) {
	for _, s := range [][2]string{
		{"", ""}, {"90", "0.9"}, {"10m", "1"}, {"1h30m", "0"}, {"31536000", "0.0"}, {"8760h", "1e-3"},
		{"0", "-0"}, {"-5", "-0.1"}, {"31536001", "1.0001"}, {"8761h", "NaN"}, {"abc", "Inf"}, {"1ns", "0x1p-2"},
		{"+60", " 0.5 "}, {"9223372036854775807", "1e309"}, {"-1h", "+Inf"}, {"1.5", "."}, {" 5s ", "0,5"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, ttlHeader, thresholdHeader string) {
		h := http.Header{}
		h.Set(HeaderTTL, ttlHeader)
		h.Set(HeaderThreshold, thresholdHeader)
		ttl, threshold, err := parseHeaders(h)
		if err != nil {
			if !isBadRequest(err) {
				t.Fatalf("%q %q: error %v (%T) is not a 400", ttlHeader, thresholdHeader, err, err)
			}
			return
		}
		if strings.TrimSpace(ttlHeader) == "" {
			if ttl != 0 {
				t.Fatalf("no TTL header, TTL %v", ttl)
			}
		} else if ttl <= 0 || ttl > maxTTL {
			t.Fatalf("TTL %q accepted as %v", ttlHeader, ttl)
		}
		if strings.TrimSpace(thresholdHeader) == "" {
			if threshold != 0 {
				t.Fatalf("no threshold header, threshold %v", threshold)
			}
		} else if !(threshold > 0 && threshold <= 1) {
			t.Fatalf("threshold %q accepted as %v", thresholdHeader, threshold)
		}
	})
}

// FuzzCacheControl: cacheControl never panics and returns only trimmed,
// lower-case, non-empty directive names.
func FuzzCacheControl(f *testing.F) {
	for _, s := range []string{
		"", "no-cache", "no-store", "No-Cache, no-store", "max-age=0, no-cache", "no-cache=\"x\"", ",,,", "=", " = ",
		"no-cache =1", "NO-STORE\t,\tprivate", "\x00", "ß,ǅ", "max-age=\"1,2\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{}
		h.Add("Cache-Control", v)
		h.Add("Cache-Control", "private") // a second header line is read too
		got := cacheControl(h)
		if !got["private"] {
			t.Fatalf("%q: the second Cache-Control line was not read: %v", v, got)
		}
		for d := range got {
			if d == "" || d != strings.TrimSpace(d) || d != strings.ToLower(d) || strings.ContainsAny(d, ",=") {
				t.Fatalf("%q: directive %q", v, d)
			}
		}
	})
}
