package store

import "testing"

func TestRebindDollar(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no placeholders", "SELECT 1", "SELECT 1"},
		{"one", "SELECT value FROM settings WHERE key = ?", "SELECT value FROM settings WHERE key = $1"},
		{"several", "INSERT INTO t (a, b, c) VALUES (?, ?,?)", "INSERT INTO t (a, b, c) VALUES ($1, $2,$3)"},
		{"ten or more", "?,?,?,?,?,?,?,?,?,?,?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11"},
		{"in string literal", "SELECT '?' || ?", "SELECT '?' || $1"},
		{"escaped quote in literal", "SELECT 'it''s ?' , ?", "SELECT 'it''s ?' , $1"},
		{"quoted identifier", `SELECT "odd?name" FROM t WHERE x = ?`, `SELECT "odd?name" FROM t WHERE x = $1`},
		{"escaped double quote", `SELECT "a""?" , ?`, `SELECT "a""?" , $1`},
		{"line comment", "SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"},
		{"line comment at end", "SELECT ? -- why?", "SELECT $1 -- why?"},
		{"block comment", "SELECT /* ? */ ?", "SELECT /* ? */ $1"},
		{"nested block comment", "SELECT /* a /* ? */ ? */ ?", "SELECT /* a /* ? */ ? */ $1"},
		{"minus is not a comment", "SELECT ? - ?", "SELECT $1 - $2"},
		{"slash is not a comment", "SELECT ? / ?", "SELECT $1 / $2"},
		{"unterminated literal", "SELECT ?, 'abc ?", "SELECT $1, 'abc ?"},
		{"unterminated comment", "SELECT ? /* ?", "SELECT $1 /* ?"},
		{"unicode", "SELECT 'ü?' , ? -- ✓", "SELECT 'ü?' , $1 -- ✓"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rebindDollar(tc.in); got != tc.want {
				t.Errorf("rebindDollar(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestQueryText(t *testing.T) {
	q := newQuery("DELETE FROM settings WHERE key = ?")
	if got := q.text(dialectSQLite); got != "DELETE FROM settings WHERE key = ?" {
		t.Errorf("sqlite text = %q", got)
	}
	if got := q.text(dialectPostgres); got != "DELETE FROM settings WHERE key = $1" {
		t.Errorf("postgres text = %q", got)
	}
}

func FuzzRebindDollar(f *testing.F) {
	for _, s := range []string{"SELECT ?", "'?' ?", `"?" -- ?` + "\n?", "/* /* ? */ */ ?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := rebindDollar(in) // must not panic
		if len(out) < len(in) {
			t.Errorf("rebindDollar(%q) = %q is shorter than its input", in, out)
		}
	})
}
