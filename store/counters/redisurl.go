package counters

import (
	"errors"
	"net/url"
	"regexp"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ParseRedisURL is redis.ParseURL for configuration errors that reach logs
// and terminals: its error never holds the URL's password. net/url repeats
// the whole URL in its errors and may quote a fragment of the userinfo
// ("invalid URL escape "%zz""); both are left out, and any other mention of
// the userinfo or the password is replaced with [redacted].
func ParseRedisURL(raw string) (*redis.Options, error) {
	o, err := redis.ParseURL(raw)
	if err == nil {
		return o, nil
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err // without the URL it repeats
	}
	return nil, errors.New(redactUserinfo(err.Error(), raw))
}

// minRedactedSecret is the shortest userinfo or password replaced wherever
// it occurs in a message; a shorter one would garble the message (and
// quoted fragments are redacted anyway).
const minRedactedSecret = 4

// quotedText is a double-quoted token of an error message.
var quotedText = regexp.MustCompile(`"[^"]*"`)

// redactUserinfo removes from msg what it shows of raw's userinfo (the
// user:password before the host): quoted fragments of it, and the
// userinfo and password themselves, escaped or not.
func redactUserinfo(msg, raw string) string {
	info := userinfoOf(raw)
	if info == "" {
		return msg
	}
	msg = quotedText.ReplaceAllStringFunc(msg, func(q string) string {
		if inner := q[1 : len(q)-1]; inner != "" && strings.Contains(info, inner) {
			return `"` + redactedText + `"`
		}
		return q
	})
	_, pass, _ := strings.Cut(info, ":")
	secrets := []string{info, pass}
	for _, s := range []string{info, pass} {
		if u, err := url.PathUnescape(s); err == nil {
			secrets = append(secrets, u)
		}
	}
	for _, s := range secrets {
		if len(s) >= minRedactedSecret {
			msg = strings.ReplaceAll(msg, s, redactedText)
		}
	}
	return RedactURLCredentials(msg)
}

// redactedText replaces a secret in a message.
const redactedText = "[redacted]"

// userinfoOf is the raw user:password of a URL, read by hand so that it
// is found in URLs net/url refuses: what lies between "://" and the last
// "@" (over-reaching into the path or query when they hold an "@" is
// harmless: it only hides more). Empty when there is none.
func userinfoOf(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return ""
	}
	return rest[:at]
}

// urlCredentials is the userinfo of a URL quoted in a message:
// scheme://user:password@ or scheme://password@.
var urlCredentials = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.\-]*://)[^\s/@"']+@`)

// RedactURLCredentials replaces the user:password of every URL in msg
// (redis://:secret@host → redis://[redacted]@host), for text from a
// library that may quote the URL it was given.
func RedactURLCredentials(msg string) string {
	if !strings.Contains(msg, "@") {
		return msg
	}
	return urlCredentials.ReplaceAllString(msg, "${1}"+redactedText+"@")
}
