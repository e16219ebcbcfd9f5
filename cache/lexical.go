package cache

import (
	"context"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// lexical is the built-in embedder: feature hashing of lower-cased words,
// word bigrams and character trigrams into a fixed number of dimensions, each
// feature with a hash-derived sign, L2-normalised.
type lexical struct {
	dims int
}

var _ Embedder = (*lexical)(nil)

// NewLexical returns the embedded fallback embedder: feature hashing of
// lower-cased words and character n-grams into dims dimensions (default 512
// when dims <= 0), L2-normalised. It is deterministic and needs no model. It
// measures shared wording, not meaning, so it is used with the stricter
// DefaultLexicalThreshold.
func NewLexical(dims int) Embedder {
	if dims <= 0 {
		dims = DefaultLexicalDims
	}
	return &lexical{dims: dims}
}

func (l *lexical) Name() string { return "lexical" }

// Embed never fails; it returns one unit vector per text (a zero vector for a
// text without letters, digits or symbols).
func (l *lexical) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if i%64 == 63 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		out[i] = l.embed(t)
	}
	return out, nil
}

// Feature weights: whole words carry most of the meaning, bigrams their order,
// trigrams make inflections and typos ("cache"/"caches") overlap.
const (
	wordWeight     = 1.0
	stopWordWeight = 0.25
	bigramWeight   = 0.7
	trigramWeight  = 0.3
)

// stopWords are the function words that carry little of a question's
// meaning: they count a quarter of a content word, so that changing the one
// content word of a templated question ("the capital of France" → "of
// Germany") moves the vector further.
var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the and or but if then else of in on at to for from by with without about
		into onto over under between is are was were be been being am do does did doing have has had having
		i me my you your we our us he she it its they them their this that these those there here
		what which who whom whose when where why how can could would should will shall may might must
		please tell give show explain me some any all each every no not so as than too very just also`) {
		stopWords[w] = true
	}
}

// numberWords spells out the small numbers as digits ("five" and "5" agree).
var numberWords = map[string]string{
	"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
	"six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}

func (l *lexical) embed(text string) []float32 {
	v := make([]float32, l.dims)
	words := tokenize(text)
	var prev string
	var prevWeight float32
	var prevContent string
	for _, w := range words {
		if d, ok := numberWords[w]; ok {
			w = d
		}
		weight := float32(wordWeight)
		if stopWords[w] {
			weight = stopWordWeight
		}
		l.add(v, "w:", w, "", weight)
		if prev != "" {
			// A bigram counts as much as its weaker word.
			l.add(v, "b:", prev, w, bigramWeight*min(weight, prevWeight))
		}
		prev, prevWeight = w, weight
		// Pairs of consecutive content words, skipping function words,
		// keep the order of what matters ("fahrenheit to celsius").
		if weight == wordWeight {
			if prevContent != "" {
				l.add(v, "k:", prevContent, w, bigramWeight)
			}
			prevContent = w
		}
		// Character trigrams of the word padded with spaces.
		padded := " " + w + " "
		idx := runeStarts(padded)
		for j := 0; j+3 < len(idx); j++ {
			l.add(v, "c:", padded[idx[j]:idx[j+3]], "", trigramWeight*weight)
		}
	}
	normalize(v)
	return v
}

// runeStarts returns the byte offsets of each rune of s, plus len(s).
func runeStarts(s string) []int {
	idx := make([]int, 0, len(s)+1)
	for i := range s {
		idx = append(idx, i)
	}
	return append(idx, len(s))
}

// add hashes the feature kind+a+" "+b and adds ±weight to its dimension.
func (l *lexical) add(v []float32, kind, a, b string, weight float32) {
	sum := fnv64a(fnvOffset, kind)
	sum = fnv64a(sum, a)
	if b != "" {
		sum = fnv64a(sum, " ")
		sum = fnv64a(sum, b)
	}
	// Mix so that the sign bit and the index are independent.
	sum ^= sum >> 33
	sum *= 0xff51afd7ed558ccd
	sum ^= sum >> 33
	i := int(sum % uint64(len(v)))
	if sum>>63 == 1 {
		weight = -weight
	}
	v[i] += weight
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnv64a continues an FNV-1a hash over s without allocating.
func fnv64a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// tokenize lower-cases text and splits it into words of letters and digits;
// every other non-space rune is a word of its own ("?" and "!" matter).
func tokenize(text string) []string {
	text = strings.ToLower(text)
	var words []string
	start := -1
	for i, r := range text {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'':
			if start < 0 {
				start = i
			}
			continue
		case start >= 0:
			words = append(words, strings.Trim(text[start:i], "'"))
			start = -1
		}
		if !unicode.IsSpace(r) && r != utf8.RuneError && unicode.IsGraphic(r) && !unicode.IsPunct(r) {
			words = append(words, string(r))
		}
	}
	if start >= 0 {
		words = append(words, strings.Trim(text[start:], "'"))
	}
	out := words[:0]
	for _, w := range words {
		// Contractions: "what's" counts as "what", "we're" as "we".
		if i := strings.LastIndexByte(w, '\''); i > 0 {
			switch w[i+1:] {
			case "s", "re", "ll", "ve", "d", "m":
				w = w[:i]
			}
		}
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// normalize scales v to unit length in place and reports whether it is
// non-zero.
func normalize(v []float32) bool {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return false
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
	return true
}

// dot is the inner product of two equally long vectors.
func dot(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	n := len(a)
	b = b[:n]
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}
