package openai

import (
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/jsonscan"
)

// What an Exact decoding (chat.Exact) refuses, over what the Lenient one
// reads: the checks walk a choices array the decoder has already validated.

// exactChoices checks the choices array of a completion (exactly one
// choice) or of a chunk (deltas of choice 0 only): no refusal, no log
// probabilities, content of text parts only, tool-call arguments as
// strings, and a finish reason that is a canonical one as it is.
func exactChoices(v []byte, chunk bool) error {
	if v[0] != '[' {
		return chat.Inexact("choices is %s", jsonscan.Kind(v))
	}
	it := jsonscan.WalkArray(v)
	for it.Next() {
		if err := exactChoice(it.Value(), chunk); err != nil {
			return err
		}
	}
	if !chunk && it.N != 1 {
		return chat.Inexact("%d choices", it.N)
	}
	return nil
}

func exactChoice(v []byte, chunk bool) error {
	if v[0] != '{' {
		return chat.Inexact("a choice is %s", jsonscan.Kind(v))
	}
	for key, fv := range jsonscan.Members(v) {
		switch string(key) {
		case "index":
			if n, _ := jsonscan.DecodeInt(fv); chunk && n != 0 {
				return chat.Inexact("several choices")
			}
		case "logprobs":
			if !jsonscan.IsNull(fv) {
				return chat.Inexact("logprobs")
			}
		case "finish_reason":
			if f, _ := jsonscan.DecodeString(fv); finishReason(f) != f {
				return chat.Inexact("finish reason %q", f)
			}
		case "message", "delta":
			if err := exactMessage(fv); err != nil {
				return err
			}
		}
	}
	return nil
}

// exactMessage checks a message or a delta.
func exactMessage(v []byte) error {
	if v[0] != '{' {
		return chat.Inexact("a message is %s", jsonscan.Kind(v))
	}
	for key, fv := range jsonscan.Members(v) {
		switch string(key) {
		case "refusal":
			if s, _ := jsonscan.DecodeString(fv); s != "" {
				return chat.Inexact("a refusal")
			}
		case "content":
			if err := exactContent(fv); err != nil {
				return err
			}
		case "tool_calls":
			if err := exactToolCalls(fv); err != nil {
				return err
			}
		}
	}
	return nil
}

// exactContent checks a content: a string, null, or text parts.
func exactContent(v []byte) error {
	switch v[0] {
	case '"', 'n':
		return nil
	case '[':
	default:
		return chat.Inexact("content is %s", jsonscan.Kind(v))
	}
	for _, pv := range jsonscan.Elements(v) {
		if pv[0] != '{' {
			return chat.Inexact("a content part is %s", jsonscan.Kind(pv))
		}
		if typ, _ := jsonscan.StringBytes(jsonscan.Member(pv, "type")); string(typ) != "text" {
			return chat.Inexact("content part %q", typ)
		}
	}
	return nil
}

// exactToolCalls checks that each call's arguments are a string.
func exactToolCalls(v []byte) error {
	if v[0] != '[' {
		return nil
	}
	for _, ev := range jsonscan.Elements(v) {
		a := jsonscan.Member(jsonscan.Member(ev, "function"), "arguments")
		if a != nil && a[0] != '"' && !jsonscan.IsNull(a) {
			return chat.Inexact("tool-call arguments as %s", jsonscan.Kind(a))
		}
	}
	return nil
}
