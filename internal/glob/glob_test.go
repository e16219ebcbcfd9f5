package glob

import (
	"regexp"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		s, pattern string
		want       bool
	}{
		{"model:openai/gpt-4o", "model:*", true},
		{"model:openai/gpt-4o", "model:openai/*", true},
		{"model:openai/gpt-4o", "model:anthropic/*", false},
		{"model:openai/gpt-4o", "*", true},
		{"tool:files/read_file", "tool:files/read_*", true},
		{"tool:files/write_file", "tool:files/read_*", false},
		{"tool:files/read_file", "tool:*/read_*", true},
		{"abc", "a*c", true},
		{"ac", "a*c", true},
		{"abcbc", "a*bc", true},
		{"abcbd", "a*bc", false},
		{"", "*", true},
		{"", "", true},
		{"x", "", false},
		{"model:gpt-4o", "model:gpt-4o", true},
		{"model:gpt-4o-mini", "model:gpt-4o", false},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*a*c", false},
		{"anything", "*", true},
		{"read_file", "read_*", true},
		{"write_file", "read_*", false},
		{"read_file", "*_file", true},
		{"read_file", "r*d*e", true},
		{"read_file", "r*x*e", false},
		{"echo", "echo", true},
		{"echo2", "echo", false},
		{"a", "a*a", false},
		{"aa", "a*a", true},
	}
	for _, c := range cases {
		if got := Match(c.s, c.pattern); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.s, c.pattern, got, c.want)
		}
	}
}

// FuzzMatch checks Match against the same language written as a regular
// expression.
func FuzzMatch(f *testing.F) {
	for _, seed := range [][2]string{{"read_file", "read_*"}, {"abcbd", "a*bc"}, {"", "*"}, {"a/b:c", "*/*:*"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, s, pattern string) {
		if len(pattern) > 64 || len(s) > 256 {
			return
		}
		parts := strings.Split(pattern, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re, err := regexp.Compile(`(?s)\A` + strings.Join(parts, ".*") + `\z`)
		if err != nil {
			t.Skip()
		}
		if got, want := Match(s, pattern), re.MatchString(s); got != want {
			t.Fatalf("Match(%q, %q) = %v, regexp says %v", s, pattern, got, want)
		}
	})
}
