package policy

import (
	"math"
	"strconv"
	"strings"
)

// Money and tokens are int64 micro-dollars and token counts, but a request
// can name any max_tokens, an upstream can report any usage, and prices
// multiply them as float64. Everything that adds or multiplies them here
// saturates at math.MaxInt64 rather than wrapping round to a small or
// negative number, which would reserve nothing and let a budget be spent
// many times over.

// maxCompletionEstimate is the most completion tokens an admission reserves
// for when the model's own limit is unknown: above every model's output
// limit, and small enough that an absurd max_tokens still prices as a very
// large, never a wrapped, amount.
const maxCompletionEstimate = 1 << 20

// satAdd returns a+b for non-negative a and b, saturating at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// clampMicros converts a non-negative amount computed in float64 (already
// rounded as the caller wants) to int64: negative amounts are 0, amounts
// beyond int64 and NaN (which validated prices never produce) are
// math.MaxInt64. Go leaves the conversion of an out-of-range float64
// undefined, so it must never see one.
func clampMicros(f float64) int64 {
	switch {
	case math.IsNaN(f) || f >= math.MaxInt64: // float64(MaxInt64) is 2^63, itself out of range
		return math.MaxInt64
	case f <= 0:
		return 0
	}
	return int64(f)
}

// usdToMicros converts dollars to micro-dollars, rounding to the nearest
// and saturating.
func usdToMicros(usd float64) int64 { return clampMicros(math.Round(usd * 1e6)) }

// formatUSD writes an amount of dollars legibly whatever its size: at least
// two decimals, and up to six (a micro-dollar) where they matter, without
// trailing zeros: $10.00, $1.50, $0.001, $0.0005, $0.000001.
func formatUSD(usd float64) string {
	s := strconv.FormatFloat(usd, 'f', 6, 64)
	s = strings.TrimRight(s, "0")
	if i := strings.IndexByte(s, '.'); len(s)-i-1 < 2 {
		s += strings.Repeat("0", 2-(len(s)-i-1))
	}
	return "$" + s
}
