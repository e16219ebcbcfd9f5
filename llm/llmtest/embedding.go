package llmtest

import (
	"math"
	"unicode"
	"unicode/utf8"
)

// Embeddings are computed by feature hashing, so they are deterministic, cheap and
// meaningful enough for cache tests: the lower-cased words of the text and the
// character trigrams of each word (padded with boundary marks) are hashed into the
// vector's dimensions with a hash-derived sign, then the vector is L2-normalised.
// Texts sharing words (paraphrases) get a high cosine similarity; texts sharing none
// get one near zero. Short words (fewer than 3 characters) weigh less, so that
// sharing "is" or "the" says little.

// Feature weights.
const (
	longWordWeight  = 1.0
	shortWordWeight = 0.4
	trigramWeight   = 0.3
	shortWordRunes  = 3 // words with fewer runes are short
	wordBoundary    = rune(0x02)
)

// FNV-1a parameters, and distinct offsets so a word and a trigram of the same runes do
// not collide on purpose.
const (
	fnvPrime         = 1099511628211
	fnvOffsetWord    = 14695981039346656037
	fnvOffsetTrigram = fnvOffsetWord ^ 0x5bd1e9955bd1e995
)

// EmbedText returns the mock's embedding of text in dims dimensions (nil when dims <
// 1): a unit vector, identical to what POST /v1/embeddings returns for the same text
// and dimensions (before embedding aliases). A text without letters or digits hashes
// its raw characters; an empty text embeds as the first unit vector.
func EmbedText(text string, dims int) []float32 {
	if dims < 1 {
		return nil
	}
	v := make([]float32, dims)
	embedInto(v, text)
	return v
}

// Cosine returns the cosine similarity of two vectors of equal length (0 when they
// differ in length or one is zero).
func Cosine(a, b []float32) float64 {
	if len(a) != len(b) {
		return 0
	}
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

// embedInto writes the embedding of text into v (len(v) >= 1).
func embedInto(v []float32, text string) {
	clear(v)
	acc := accumulator{v: v}
	words := 0
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if !isWordRune(r) {
			i += size
			continue
		}
		start := i
		for i < len(text) {
			r, size = utf8.DecodeRuneInString(text[i:])
			if !isWordRune(r) {
				break
			}
			i += size
		}
		acc.word(text[start:i], unicode.ToLower)
		words++
	}
	if words == 0 && text != "" {
		acc.word(text, nil) // punctuation only: hash it as it is
	}
	acc.normalise()
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// accumulator adds hashed features into a vector.
type accumulator struct {
	v []float32
}

// word adds one word and its trigrams, its runes mapped by fold (nil: as they are).
func (a *accumulator) word(w string, fold func(rune) rune) {
	wordHash := uint64(fnvOffsetWord)
	runes := 0
	// window holds the last two runes of the padded word for trigrams.
	var r1, r2 rune = 0, wordBoundary
	seen := 1 // the leading boundary
	push := func(r rune) {
		if seen >= 2 {
			h := uint64(fnvOffsetTrigram)
			h = (h ^ uint64(r1)) * fnvPrime
			h = (h ^ uint64(r2)) * fnvPrime
			h = (h ^ uint64(r)) * fnvPrime
			a.add(h, trigramWeight)
		}
		r1, r2 = r2, r
		seen++
	}
	for _, r := range w {
		if fold != nil {
			r = fold(r)
		}
		wordHash = (wordHash ^ uint64(r)) * fnvPrime
		runes++
		push(r)
	}
	push(wordBoundary)
	weight := longWordWeight
	if runes < shortWordRunes {
		weight = shortWordWeight
	}
	a.add(wordHash, weight)
}

// add adds ±weight to the dimension chosen by h.
func (a *accumulator) add(h uint64, weight float64) {
	h = splitmix64(h) // spread FNV's low-entropy high bits
	dim := (h >> 32) * uint64(len(a.v)) >> 32
	if h&1 == 1 {
		weight = -weight
	}
	a.v[dim] += float32(weight)
}

// normalise scales the vector to unit length; a zero vector becomes the first unit
// vector so that it stays normalised.
func (a *accumulator) normalise() {
	var sum float64
	for _, x := range a.v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		a.v[0] = 1
		return
	}
	scale := 1 / math.Sqrt(sum)
	for i, x := range a.v {
		a.v[i] = float32(float64(x) * scale)
	}
}
