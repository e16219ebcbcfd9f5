package store

import "strconv"

// dialect is the SQL flavour of the open database.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

// Driver names reported by [Store.Driver].
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// String returns the driver name of d.
func (d dialect) String() string {
	if d == dialectPostgres {
		return DriverPostgres
	}
	return DriverSQLite
}

// query is one SQL statement written once with '?' placeholders and held in the
// form each dialect needs. Build queries with newQuery at package level so the
// rewrite happens once, at start-up, never per call.
//
// Portable SQL only: both SQLite (3.35+) and Postgres accept
// INSERT ... ON CONFLICT (...) DO UPDATE/NOTHING, excluded.col and RETURNING.
type query struct {
	sqlite   string
	postgres string
}

// newQuery returns q prepared for both dialects. The '?' placeholders are
// rewritten to $1, $2, ... for Postgres; a '?' inside a quoted string, a
// quoted identifier or a comment is left alone. Postgres' own '?' operators
// (jsonb) therefore cannot be used in a query written this way.
func newQuery(q string) query {
	return query{sqlite: q, postgres: rebindDollar(q)}
}

// text returns the statement in d's form.
func (q query) text(d dialect) string {
	if d == dialectPostgres {
		return q.postgres
	}
	return q.sqlite
}

// rebindDollar rewrites each '?' placeholder in q to a numbered $n parameter.
// It understands just enough SQL lexing to skip single-quoted strings (a doubled
// quote inside is an escaped quote), double-quoted identifiers, -- line comments and /* */ block
// comments (nested, as Postgres allows). An unterminated quote or comment
// swallows the rest of the text unchanged.
func rebindDollar(q string) string {
	out := make([]byte, 0, len(q)+8)
	n := 0
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '?':
			n++
			out = append(out, '$')
			out = strconv.AppendInt(out, int64(n), 10)
			i++
		case c == '\'' || c == '"':
			end := skipQuoted(q, i, c)
			out = append(out, q[i:end]...)
			i = end
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			end := skipLineComment(q, i)
			out = append(out, q[i:end]...)
			i = end
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := skipBlockComment(q, i)
			out = append(out, q[i:end]...)
			i = end
		default:
			out = append(out, c)
			i++
		}
	}
	return string(out)
}

// skipQuoted returns the index just past the quoted run that starts at q[start]
// with the quote character quote; a doubled quote inside the run is an escaped
// quote, not its end.
func skipQuoted(q string, start int, quote byte) int {
	for i := start + 1; i < len(q); i++ {
		if q[i] != quote {
			continue
		}
		if i+1 < len(q) && q[i+1] == quote {
			i++ // escaped quote
			continue
		}
		return i + 1
	}
	return len(q)
}

// skipLineComment returns the index just past the "--" comment starting at
// q[start], including its newline.
func skipLineComment(q string, start int) int {
	for i := start + 2; i < len(q); i++ {
		if q[i] == '\n' {
			return i + 1
		}
	}
	return len(q)
}

// skipBlockComment returns the index just past the "/* */" comment starting at
// q[start], honouring nesting.
func skipBlockComment(q string, start int) int {
	depth := 0
	for i := start; i+1 < len(q); i++ {
		switch {
		case q[i] == '/' && q[i+1] == '*':
			depth++
			i++
		case q[i] == '*' && q[i+1] == '/':
			depth--
			i++
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(q)
}
