package openai

import (
	"errors"
)

// The pass-through fast path forwards a client's body to an OpenAI-compatible
// upstream as it came, changing only what must change. These edits work on
// the bytes: the whole body is validated, the few values to change are
// located, and everything else is copied unchanged.

// edit replaces body[start:end] with text (an insertion when start == end).
type edit struct {
	start, end int
	text       string
}

// applyEdits returns body with the edits (in increasing, non-overlapping
// order) applied, in a new slice.
func applyEdits(body []byte, edits []edit) []byte {
	n := len(body)
	for _, e := range edits {
		n += len(e.text) - (e.end - e.start)
	}
	out := make([]byte, 0, n)
	prev := 0
	for _, e := range edits {
		out = append(out, body[prev:e.start]...)
		out = append(out, e.text...)
		prev = e.end
	}
	return append(out, body[prev:]...)
}

var errNotObject = errors.New("the body is not a JSON object")

// topLevel starts walking body, which must be one JSON object.
func topLevel(body []byte) (objectIter, error) {
	start := skipSpace(body, 0)
	if start < len(body) && body[start] == '{' {
		it, err := iterObject(body, start, 0)
		return it, err
	}
	if _, _, err := documentEnd(body); err != nil {
		return objectIter{}, err
	}
	return objectIter{}, errNotObject
}

// finish reports the walk's syntax error, or bytes after the object.
func finish(it *objectIter, body []byte) error {
	if it.err != nil {
		return it.err
	}
	if i := skipSpace(body, it.end); i != len(body) {
		return errAt(i, "unexpected %s after the object", describe(body, i))
	}
	return nil
}

// PatchModel returns body with the value of its top-level "model" member
// replaced by model (every such member, should the key repeat; inserted
// first when absent). Only those bytes change: nested "model" keys,
// whitespace, key order and escapes elsewhere stay as they were. body must be
// a valid JSON object; the result is a new slice.
func PatchModel(body []byte, model string) ([]byte, error) {
	it, err := topLevel(body)
	if err != nil {
		return nil, err
	}
	var stack [2]edit
	edits := stack[:0]
	quoted := ""
	for it.next() {
		if string(it.key) == "model" {
			if quoted == "" {
				quoted = string(appendString(make([]byte, 0, len(model)+2), model))
			}
			edits = append(edits, edit{start: it.valStart, end: it.valEnd, text: quoted})
		}
	}
	if err := finish(&it, body); err != nil {
		return nil, err
	}
	if len(edits) == 0 {
		open := skipSpace(body, 0) + 1
		text := `"model":` + string(appendString(nil, model))
		if it.n > 0 {
			text += ","
		}
		edits = append(edits, edit{start: open, end: open, text: text})
	}
	return applyEdits(body, edits), nil
}

// EnsureStreamUsage makes a streaming body ask for the usage chunk: when the
// top-level "stream" is true, stream_options.include_usage is set to true
// (inserted, or replacing another value) unless it already is. A body that
// does not stream, or already asks for usage, is returned as is; otherwise
// the result is a new slice in which only the edited bytes differ. body must
// be a valid JSON object; in a streaming body, a stream_options that is
// neither an object nor null is a *RequestError.
func EnsureStreamUsage(body []byte) ([]byte, error) {
	it, err := topLevel(body)
	if err != nil {
		return nil, err
	}
	var stream bool
	var stack [4]edit
	edits := stack[:0]
	sawOptions := false
	var badOptions []byte
	for it.next() {
		v := it.value()
		switch string(it.key) {
		case "stream":
			stream = string(v) == "true"
		case "stream_options":
			sawOptions = true
			switch {
			case isNull(v):
				edits = append(edits, edit{start: it.valStart, end: it.valEnd, text: `{"include_usage":true}`})
			case v[0] == '{':
				edits = includeUsageEdits(edits, v, it.valStart)
			default:
				badOptions = v
			}
		}
	}
	if err := finish(&it, body); err != nil {
		return nil, err
	}
	if !stream {
		return body, nil
	}
	if badOptions != nil {
		return nil, requestError("stream_options", "must be an object, got "+jsonKind(badOptions))
	}
	if !sawOptions {
		open := skipSpace(body, 0) + 1
		edits = append(edits, edit{start: open, end: open, text: `"stream_options":{"include_usage":true},`})
	}
	if len(edits) == 0 {
		return body, nil
	}
	return applyEdits(body, edits), nil
}

// includeUsageEdits appends the edits that make the stream_options object
// opts (at offset base in the body) hold "include_usage":true.
func includeUsageEdits(edits []edit, opts []byte, base int) []edit {
	it, _ := iterObject(opts, 0, 1)
	found := false
	for it.next() {
		if string(it.key) != "include_usage" {
			continue
		}
		found = true
		if string(it.value()) != "true" {
			edits = append(edits, edit{start: base + it.valStart, end: base + it.valEnd, text: "true"})
		}
	}
	if !found {
		text := `"include_usage":true`
		if it.n > 0 {
			text += ","
		}
		edits = append(edits, edit{start: base + 1, end: base + 1, text: text})
	}
	return edits
}
