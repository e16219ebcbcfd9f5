package cache

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// entryMagic starts every encoded Entry; its last byte is the format version.
var entryMagic = [3]byte{'J', 'C', 1}

// maxEntryValue bounds a decoded value, so a corrupt length cannot make the
// decoder allocate without limit.
const maxEntryValue = 64 << 20

// EncodeEntry encodes e in the cache's binary format, the value stored in
// Redis and in index payloads. DecodeEntry reverses it.
func EncodeEntry(e Entry) []byte {
	b := make([]byte, 0, len(entryMagic)+4*binary.MaxVarintLen64+8+len(e.Value))
	b = append(b, entryMagic[:]...)
	var created int64
	if !e.CreatedAt.IsZero() {
		created = e.CreatedAt.UnixNano()
	}
	b = binary.AppendVarint(b, created)
	b = binary.AppendVarint(b, e.PromptTokens)
	b = binary.AppendVarint(b, e.CompletionTokens)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.CostUSD))
	b = binary.AppendUvarint(b, uint64(len(e.Value)))
	return append(b, e.Value...)
}

// DecodeEntry decodes bytes written by EncodeEntry. It never panics; bad input
// yields an error wrapping ErrCorruptEntry. The returned Value is a copy.
func DecodeEntry(b []byte) (Entry, error) {
	var e Entry
	if len(b) < len(entryMagic) || [3]byte(b[:3]) != entryMagic {
		return e, fmt.Errorf("%w: bad header", ErrCorruptEntry)
	}
	b = b[len(entryMagic):]
	var fields [3]int64
	for i := range fields {
		v, n := binary.Varint(b)
		if n <= 0 {
			return Entry{}, fmt.Errorf("%w: bad varint", ErrCorruptEntry)
		}
		fields[i], b = v, b[n:]
	}
	if fields[1] < 0 || fields[2] < 0 {
		return Entry{}, fmt.Errorf("%w: negative token count", ErrCorruptEntry)
	}
	if len(b) < 8 {
		return Entry{}, fmt.Errorf("%w: short cost", ErrCorruptEntry)
	}
	cost := math.Float64frombits(binary.LittleEndian.Uint64(b))
	if math.IsNaN(cost) || math.IsInf(cost, 0) {
		return Entry{}, fmt.Errorf("%w: bad cost", ErrCorruptEntry)
	}
	b = b[8:]
	size, n := binary.Uvarint(b)
	if n <= 0 || size > maxEntryValue || size != uint64(len(b)-n) {
		return Entry{}, fmt.Errorf("%w: bad value length", ErrCorruptEntry)
	}
	if fields[0] != 0 {
		e.CreatedAt = time.Unix(0, fields[0]).UTC()
	}
	e.PromptTokens, e.CompletionTokens, e.CostUSD = fields[1], fields[2], cost
	e.Value = append([]byte(nil), b[n:]...)
	return e, nil
}

func floatBits(f float64) uint64 { return math.Float64bits(f) }
func floatFrom(b uint64) float64 { return math.Float64frombits(b) }
