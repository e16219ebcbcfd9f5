package llmtest

import (
	"encoding/json"
	"strings"
)

// Token counting is a deliberately simple, deterministic estimate: one token per
// word, a word being a maximal run of bytes that are not ASCII whitespace. It needs no
// tokenizer tables, allocates nothing, and is easy to predict in tests
// ("hello big world" is 3 tokens).

// isSpace reports whether c separates words.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\f', '\v':
		return true
	}
	return false
}

// countTokens returns the number of words in s.
func countTokens(s string) int {
	n := 0
	inWord := false
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) {
			inWord = false
		} else if !inWord {
			inWord = true
			n++
		}
	}
	return n
}

// countJSONStringTokens counts the words of a JSON string literal (quotes included)
// without decoding it: the escapes \n, \t, \r, \f and \b separate words like the
// characters they stand for; any other escape is part of a word.
func countJSONStringTokens(raw []byte) int {
	if len(raw) < 2 {
		return 0
	}
	raw = raw[1 : len(raw)-1]
	n := 0
	inWord := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		space := isSpace(c)
		if c == '\\' && i+1 < len(raw) {
			i++
			switch raw[i] {
			case 'n', 't', 'r', 'f', 'b':
				space = true
			case 'u':
				i += 4 // \uXXXX is one character of a word
			}
		}
		if space {
			inWord = false
		} else if !inWord {
			inWord = true
			n++
		}
	}
	return n
}

// truncateTokens returns s cut right after its n-th word, and whether anything was
// cut.
func truncateTokens(s string, n int) (string, bool) {
	if n <= 0 {
		return "", strings.TrimSpace(s) != ""
	}
	words := 0
	inWord := false
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) {
			if inWord && words == n {
				return s[:i], strings.TrimSpace(s[i:]) != ""
			}
			inWord = false
		} else if !inWord {
			inWord = true
			words++
		}
	}
	return s, false
}

// firstTokens returns the prefix of s holding at most n words, without trailing space.
func firstTokens(s string, n int) string {
	cut, _ := truncateTokens(strings.TrimSpace(s), n)
	return cut
}

// nextWordPiece splits s into its first piece (leading whitespace plus one word, the
// way streamed deltas look: "Hello", " world") and the rest.
func nextWordPiece(s string) (piece, rest string) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	for i < len(s) && !isSpace(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// argumentPieceSize is the largest piece, in bytes, in which streamed tool-call
// arguments arrive.
const argumentPieceSize = 16

// nextArgumentPiece splits s into a first piece of at most argumentPieceSize bytes,
// ending on a UTF-8 character boundary, and the rest.
func nextArgumentPiece(s string) (piece, rest string) {
	if len(s) <= argumentPieceSize {
		return s, ""
	}
	i := argumentPieceSize
	for i > 0 && !isRuneStart(s[i]) {
		i--
	}
	if i == 0 { // cannot happen with valid UTF-8; never return an empty piece
		i = argumentPieceSize
	}
	return s[:i], s[i:]
}

// isRuneStart reports whether b may begin a UTF-8 encoded character.
func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// fillerWords is the vocabulary of filler replies.
var fillerWords = [...]string{
	"lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit",
	"sed", "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore",
	"magna", "aliqua",
}

// fillerText returns a deterministic text of exactly n words.
func fillerText(n int) string {
	var b strings.Builder
	b.Grow(n * 7)
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(fillerWords[i%len(fillerWords)])
	}
	return b.String()
}

// contentText returns the text of a validated OpenAI or Anthropic content
// value: a string, or an array of blocks whose text blocks are joined by
// newlines.
func contentText(raw json.RawMessage) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s) // validated by the format's request check
		return s
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &blocks)
	var b strings.Builder
	for i := range blocks {
		if blocks[i].Type != "text" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(blocks[i].Text)
	}
	return b.String()
}
