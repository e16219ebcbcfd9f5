package chat

import (
	"errors"
	"fmt"
)

// Decoding says what an answer decoder does with what the canonical types
// cannot carry: several choices, a refusal, log probabilities, content
// other than text and tool calls, an ending the canonical finish reasons do
// not name as it is.
type Decoding int

const (
	// Lenient drops it and maps the ending to the nearest finish reason:
	// the providers' way, for an answer used once.
	Lenient Decoding = iota
	// Exact refuses the answer with an error wrapping ErrInexact, and
	// leaves an absent finish reason empty: the response cache's way, for
	// an answer that must replay as it came.
	Exact
)

// ErrInexact reports an answer that an Exact decoding cannot carry as it is.
var ErrInexact = errors.New("the answer holds what the canonical types do not carry")

// Inexact is ErrInexact naming what the answer held.
func Inexact(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInexact, fmt.Sprintf(format, args...))
}
