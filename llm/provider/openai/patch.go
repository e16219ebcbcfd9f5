package openai

import (
	"errors"

	"github.com/junctionhq/junction/llm/internal/jsonscan"
)

// The pass-through fast path forwards a client's body to an OpenAI-compatible
// upstream as it came, changing only what must change. These edits work on
// the bytes: the whole body is validated, the few values to change are
// located, and everything else is copied unchanged.

// edit replaces body[start:end] with text (an insertion when start == end).
type edit struct {
	start, end int
	text       []byte
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

// The texts EnsureStreamUsage inserts; edits only read them.
var (
	usageObject        = []byte(`{"include_usage":true}`)
	usageMember        = []byte(`"stream_options":{"include_usage":true},`)
	includeUsageMember = []byte(`"include_usage":true,`)
	jsonTrue           = []byte("true")
)

// topLevel starts walking body, which must be one JSON object.
func topLevel(body []byte) (jsonscan.ObjectIter, error) {
	start := jsonscan.SkipSpace(body, 0)
	if start < len(body) && body[start] == '{' {
		it, err := jsonscan.IterObject(body, start, 0)
		return it, err
	}
	if _, _, err := jsonscan.DocumentEnd(body); err != nil {
		return jsonscan.ObjectIter{}, err
	}
	return jsonscan.ObjectIter{}, errNotObject
}

// finish reports the walk's syntax error, or bytes after the object.
func finish(it *jsonscan.ObjectIter, body []byte) error {
	if it.Err != nil {
		return it.Err
	}
	return jsonscan.Trailing(body, it.End)
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
	type span struct{ start, end int }
	var stack [2]span
	spans := stack[:0]
	replaced := 0
	for it.Next() {
		if string(it.Key) == "model" {
			spans = append(spans, span{it.ValStart, it.ValEnd})
			replaced += it.ValEnd - it.ValStart
		}
	}
	if err := finish(&it, body); err != nil {
		return nil, err
	}
	quotedSize := len(model) + len(model)/8 + 16 // room for a few escapes; append grows if not
	if len(spans) == 0 {
		open := jsonscan.SkipSpace(body, 0) + 1
		out := make([]byte, 0, len(body)+len(`"model":,`)+quotedSize)
		out = append(out, body[:open]...)
		out = append(out, `"model":`...)
		out = appendString(out, model)
		if it.N > 0 {
			out = append(out, ',')
		}
		return append(out, body[open:]...), nil
	}
	out := make([]byte, 0, len(body)-replaced+len(spans)*quotedSize)
	prev := 0
	for _, sp := range spans {
		out = append(out, body[prev:sp.start]...)
		out = appendString(out, model)
		prev = sp.end
	}
	return append(out, body[prev:]...), nil
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
	for it.Next() {
		v := it.Value()
		switch string(it.Key) {
		case "stream":
			stream = string(v) == "true"
		case "stream_options":
			sawOptions = true
			switch {
			case jsonscan.IsNull(v):
				edits = append(edits, edit{start: it.ValStart, end: it.ValEnd, text: usageObject})
			case v[0] == '{':
				edits = includeUsageEdits(edits, v, it.ValStart)
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
		return nil, requestError("stream_options", "must be an object, got "+jsonscan.Kind(badOptions))
	}
	if !sawOptions {
		open := jsonscan.SkipSpace(body, 0) + 1
		edits = append(edits, edit{start: open, end: open, text: usageMember})
	}
	if len(edits) == 0 {
		return body, nil
	}
	return applyEdits(body, edits), nil
}

// includeUsageEdits appends the edits that make the stream_options object
// opts (at offset base in the body) hold "include_usage":true.
func includeUsageEdits(edits []edit, opts []byte, base int) []edit {
	it := jsonscan.WalkObject(opts)
	found := false
	for it.Next() {
		if string(it.Key) != "include_usage" {
			continue
		}
		found = true
		if string(it.Value()) != "true" {
			edits = append(edits, edit{start: base + it.ValStart, end: base + it.ValEnd, text: jsonTrue})
		}
	}
	if !found {
		text := includeUsageMember // with a comma before other members
		if it.N == 0 {
			text = text[:len(text)-1]
		}
		edits = append(edits, edit{start: base + 1, end: base + 1, text: text})
	}
	return edits
}
