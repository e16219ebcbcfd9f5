package cache

import (
	"context"
	"math"
	"testing"
)

func lexicalSim(t *testing.T, e Embedder, a, b string) float64 {
	t.Helper()
	v, err := e.Embed(context.Background(), []string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	return float64(dot(v[0], v[1]))
}

// TestLexicalThreshold is the tuning record of DefaultLexicalThreshold: every
// paraphrase pair scores at least the threshold, every different question
// scores below it, and the margins are logged (see the package doc).
func TestLexicalThreshold(t *testing.T) {
	t.Parallel()
	e := NewLexical(0)
	minPara, maxDiff := 2.0, -2.0
	for _, p := range paraphrasePairs {
		s := lexicalSim(t, e, p[0], p[1])
		minPara = math.Min(minPara, s)
		if s < DefaultLexicalThreshold {
			t.Errorf("paraphrase scores %.3f < %.2f: %q / %q", s, DefaultLexicalThreshold, p[0], p[1])
		}
	}
	for _, p := range append(differentPairs, lexicalMisses...) {
		s := lexicalSim(t, e, p[0], p[1])
		maxDiff = math.Max(maxDiff, s)
		if s >= DefaultLexicalThreshold {
			t.Errorf("different question scores %.3f >= %.2f: %q / %q", s, DefaultLexicalThreshold, p[0], p[1])
		}
	}
	t.Logf("lexical 512 dims: lowest paraphrase %.3f, highest different question %.3f, threshold %.2f", minPara, maxDiff, DefaultLexicalThreshold)
}

func TestLexicalVectors(t *testing.T) {
	t.Parallel()
	e := NewLexical(0)
	if e.Name() != "lexical" {
		t.Fatalf("name %q", e.Name())
	}
	texts := []string{"Hello, world", "hello world", "", "?!", "ünïcödé 日本語のテキスト", "x"}
	a, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewLexical(512).Embed(context.Background(), texts)
	for i, v := range a {
		if len(v) != DefaultLexicalDims {
			t.Fatalf("%q: %d dims", texts[i], len(v))
		}
		var norm float64
		for j, x := range v {
			norm += float64(x) * float64(x)
			if x != b[i][j] {
				t.Fatalf("%q: not deterministic", texts[i])
			}
		}
		zero := texts[i] == "" || texts[i] == "?!"
		if zero && norm != 0 || !zero && math.Abs(norm-1) > 1e-5 {
			t.Fatalf("%q: squared norm %v", texts[i], norm)
		}
	}
	if s := float64(dot(a[0], a[1])); s < 0.9999 {
		t.Fatalf("case and punctuation changed the vector: %v", s)
	}
	if v, _ := NewLexical(64).Embed(context.Background(), []string{"a b c"}); len(v[0]) != 64 {
		t.Fatalf("dims %d", len(v[0]))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Embed(ctx, make([]string, 100)); err == nil {
		t.Fatal("a cancelled context was not noticed")
	}
}

func BenchmarkLexicalEmbed(b *testing.B) {
	e := NewLexical(512)
	texts := []string{"What is the time complexity of quicksort in the average case and in the worst case?"}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = e.Embed(context.Background(), texts)
	}
}
