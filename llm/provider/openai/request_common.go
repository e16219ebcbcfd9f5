package openai

import (
	"encoding/json"
	"strconv"

	"github.com/junctionhq/junction/llm/internal/jsonscan"
)

// What the request decoders (chat completions, embeddings) share: the
// error that names the field at fault, raw copies out of the body, and the
// walk of the top-level object.

// RequestError is a client request that cannot be accepted. Param names the
// field at fault in OpenAI's notation ("messages[2].content"), "" when the
// fault is the body as a whole; Error joins both, ready to show the client
// in an OpenAI error with param set to Param.
type RequestError struct {
	Param   string
	Message string
}

func (e *RequestError) Error() string {
	if e.Param == "" {
		return e.Message
	}
	return e.Param + ": " + e.Message
}

func requestError(param, message string) *RequestError {
	return &RequestError{Param: param, Message: message}
}

// Inside the decoder, errors name the field relative to the value being
// decoded ("content[0].type" inside a message); each level prefixes its own
// part on the way out, so that the path is only built when there is an
// error.

// under prefixes a relative error's Param with field ("messages", "[2]").
func under(err error, field string) error {
	re, ok := err.(*RequestError)
	if !ok {
		return err
	}
	switch {
	case re.Param == "":
		re.Param = field
	case re.Param[0] == '[':
		re.Param = field + re.Param
	default:
		re.Param = field + "." + re.Param
	}
	return re
}

// underIndex prefixes a relative error's Param with "[i]".
func underIndex(err error, i int) error {
	return under(err, "["+strconv.Itoa(i)+"]")
}

// rawArena copies raw values out of the request body in a few allocations,
// so that the decoded request never aliases the caller's buffer (which may
// be pooled) and the body can be dropped early.
type rawArena struct{ buf []byte }

func (a *rawArena) copy(v []byte) json.RawMessage {
	if len(v) > cap(a.buf)-len(a.buf) {
		a.buf = make([]byte, 0, max(2*cap(a.buf), len(v), 512))
	}
	a.buf = append(a.buf, v...)
	n := len(a.buf)
	return json.RawMessage(a.buf[n-len(v) : n : n])
}

// keep stores an unmodeled member (key, v) in *extra, a copy of v, making
// the map on first use.
func (a *rawArena) keep(extra *map[string]json.RawMessage, key, v []byte) {
	if *extra == nil {
		*extra = make(map[string]json.RawMessage)
	}
	(*extra)[string(key)] = a.copy(v)
}

// openObject starts walking body, which must be one JSON object.
func openObject(body []byte) (jsonscan.ObjectIter, error) {
	start := jsonscan.SkipSpace(body, 0)
	if start >= len(body) {
		return jsonscan.ObjectIter{}, requestError("", "the request body is empty; expected a JSON object")
	}
	if body[start] != '{' {
		if _, _, err := jsonscan.DocumentEnd(body); err != nil {
			return jsonscan.ObjectIter{}, requestError("", "the request body is not valid JSON: "+err.Error())
		}
		return jsonscan.ObjectIter{}, requestError("", "the request body must be a JSON object, got "+jsonscan.Kind(body[start:]))
	}
	it, _ := jsonscan.IterObject(body, start, 0)
	return it, nil
}

// closeObject reports a syntax error met while walking the body, or bytes
// after the object.
func closeObject(it *jsonscan.ObjectIter, body []byte) error {
	if it.Err != nil {
		return requestError("", "the request body is not valid JSON: "+it.Err.Error())
	}
	if err := jsonscan.Trailing(body, it.End); err != nil {
		return requestError("", "the request body is not valid JSON: "+err.Error())
	}
	return nil
}

// walkRequest walks body, which must be one JSON object, calling member for
// each of its members; an error member returns is placed under the
// member's key.
func walkRequest(body []byte, member func(key, v []byte) error) error {
	it, err := openObject(body)
	if err != nil {
		return err
	}
	if err := walkMembers(&it, member); err != nil {
		return err
	}
	return closeObject(&it, body)
}

// memberOf calls member for each member of v, which must be an object; an
// error member returns is placed under the member's key.
func memberOf(v []byte, member func(key, v []byte) error) error {
	if v[0] != '{' {
		return requestError("", "must be an object, got "+jsonscan.Kind(v))
	}
	it := jsonscan.WalkObject(v)
	return walkMembers(&it, member)
}

func walkMembers(it *jsonscan.ObjectIter, member func(key, v []byte) error) error {
	for it.Next() {
		if err := member(it.Key, it.Value()); err != nil {
			return under(err, string(it.Key))
		}
	}
	return nil
}
