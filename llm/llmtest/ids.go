package llmtest

// Identifiers (chatcmpl-..., msg_..., call_..., toolu_..., request ids) are derived
// from the mock's seed, the request's sequence number and a per-request index, so a
// seeded mock replays the same ids for the same sequence of requests. Each looks like
// the provider's: a prefix and 24 characters of [0-9A-Za-z].

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// requestIDIndex is the index of request ids, apart from the response id (0) and the
// tool-call ids (1, 2, ...) of the same request.
const requestIDIndex = 1 << 30

// idLength is the number of random-looking characters after the prefix.
const idLength = 24

// splitmix64 is a fast, well-mixed 64-bit hash step (Steele et al.).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// appendID appends prefix followed by idLength characters derived from seed, seq and
// index.
func appendID(dst []byte, prefix string, seed, seq uint64, index int) []byte {
	dst = append(dst, prefix...)
	base := seed ^ splitmix64(seq^splitmix64(uint64(index)))
	var h uint64
	for i := range idLength {
		if i%8 == 0 { // 62^8 < 2^64: eight well-mixed characters per hash
			h = splitmix64(base + uint64(i))
		}
		dst = append(dst, idAlphabet[h%uint64(len(idAlphabet))])
		h /= uint64(len(idAlphabet))
	}
	return dst
}
