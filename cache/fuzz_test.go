package cache

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
)

// FuzzDecodeEntry: DecodeEntry never panics on stored bytes (Redis values,
// index payloads), and what it accepts re-encodes to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(EncodeEntry(Entry{Value: []byte("hello"), PromptTokens: 3, CompletionTokens: 4, CostUSD: 0.25, CreatedAt: time.Unix(1700000000, 5)}))
	f.Add(EncodeEntry(Entry{}))
	f.Add([]byte("JC\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptEntry) {
				t.Fatalf("error %v does not wrap ErrCorruptEntry", err)
			}
			return
		}
		if again := EncodeEntry(e); !bytes.Equal(again, b) {
			// Varints have one canonical form; anything else was rejected or
			// re-encodes equal.
			e2, err := DecodeEntry(again)
			if err != nil || !bytes.Equal(e2.Value, e.Value) || e2.PromptTokens != e.PromptTokens || e2.CostUSD != e.CostUSD {
				t.Fatalf("round trip changed the entry: %+v vs %+v (%v)", e, e2, err)
			}
		}
	})
}

func TestEntryRoundTrip(t *testing.T) {
	t.Parallel()
	in := Entry{Value: []byte{0, 1, 2, 255}, PromptTokens: 1 << 40, CompletionTokens: 7, CostUSD: 12.5, CreatedAt: time.Unix(1700000000, 123).UTC()}
	out, err := DecodeEntry(EncodeEntry(in))
	if err != nil || !bytes.Equal(out.Value, in.Value) || out.PromptTokens != in.PromptTokens || out.CompletionTokens != 7 || out.CostUSD != 12.5 || !out.CreatedAt.Equal(in.CreatedAt) {
		t.Fatalf("%+v %v", out, err)
	}
	for _, bad := range [][]byte{nil, []byte("XX\x01"), []byte("JC\x02"), EncodeEntry(in)[:10], append(EncodeEntry(in), 0)} {
		if _, err := DecodeEntry(bad); !errors.Is(err, ErrCorruptEntry) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

// FuzzQdrantPayload: a point payload from Qdrant (which anyone with access
// could have written) never panics the decoder.
func FuzzQdrantPayload(f *testing.F) {
	f.Add("x", "=t", "=m", "=", "=c", int64(100), "aGk=")
	f.Add("", "", "", "", "", int64(-1), "!!")
	f.Fuzz(func(t *testing.T, id, tenant, model, tools, context string, exp int64, value string) {
		p, err := decodeQdrantPayload(map[string]*qdrant.Value{
			qfID: qdrant.NewValueString(id), qfTenant: qdrant.NewValueString(tenant), qfModel: qdrant.NewValueString(model),
			qfTools: qdrant.NewValueString(tools), qfContext: qdrant.NewValueString(context), qfExpiresAt: qdrant.NewValueInt(exp),
			qfValue: qdrant.NewValueString(value),
		})
		if err != nil {
			if !errors.Is(err, ErrCorruptEntry) {
				t.Fatalf("error %v does not wrap ErrCorruptEntry", err)
			}
			return
		}
		if "="+p.Scope.Tenant != tenant || p.ID != id {
			t.Fatalf("decoded %+v", p)
		}
		_, _ = DecodeEntry(p.Payload)
	})
}
