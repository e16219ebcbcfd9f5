package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// UsageRecord is one metered call: an LLM request or a tool call.
type UsageRecord struct {
	// ID identifies the record, so that writing it is idempotent: a record
	// whose ID is already stored is skipped. Empty means no ID (never
	// skipped).
	ID string
	// Time is when the call was made. It is stored in UTC, to the
	// microsecond; the zero Time means the time of the insert.
	Time time.Time
	// RequestID is the gateway's request id.
	RequestID string
	// KeyID and KeyName identify the virtual key that paid for the call.
	KeyID, KeyName string
	// Team and Customer are the key's team and customer, if any.
	Team, Customer string
	// Kind is "llm" or "tool".
	Kind string
	// Model is the model an LLM call used.
	Model string
	// Server and Tool name the upstream server and tool a tool call used.
	Server, Tool string
	// PromptTokens, CompletionTokens and CachedTokens count an LLM call's tokens.
	PromptTokens, CompletionTokens, CachedTokens int64
	// CostMicros is the call's cost in millionths of a US dollar.
	CostMicros int64
	// Status is "ok" for a call that succeeded, else "error", "cancelled", ...
	Status string
	// Duration is how long the call took; it is stored in whole milliseconds.
	Duration time.Duration
}

// UsageOK is the Status of a call that succeeded; every other status counts
// as an error in [UsageRow].
const UsageOK = "ok"

// usageColumns are the columns InsertUsage writes, in the order of usageArgs.
const usageColumns = `record_id, ts, request_id, key_id, key_name, team, customer, kind, model, server, tool,
prompt_tokens, completion_tokens, cached_tokens, cost_micros, status, duration_ms`

// usageColumnCount is the number of usageColumns.
const usageColumnCount = 17

// usageChunkRows is how many records one INSERT statement carries: 8500
// parameters, well below SQLite's limit of 32766 and Postgres' of 65535.
const usageChunkRows = 500

// qUsageInsertChunk inserts a full chunk of records.
var qUsageInsertChunk = usageInsertQuery(usageChunkRows)

// usageInsertQuery returns a multi-row INSERT of n records.
func usageInsertQuery(n int) query {
	row := "(" + strings.Repeat("?, ", usageColumnCount-1) + "?)"
	var b strings.Builder
	b.WriteString("INSERT INTO usage (" + usageColumns + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	// A record whose id is stored already is skipped (usage_record_id is the
	// only unique constraint a written row can break).
	b.WriteString(" ON CONFLICT DO NOTHING")
	return newQuery(b.String())
}

// InsertUsage appends recs to the usage ledger in one transaction, with
// multi-row inserts of up to usageChunkRows records each: either every record
// is stored or none is. A record whose ID is already stored is skipped, so a
// batch may be retried after an error that leaves its fate unknown (a lost
// answer to COMMIT) without storing anything twice. Text that is not valid
// UTF-8 is stored with U+FFFD in place of the bad bytes and NUL bytes are
// dropped (Postgres cannot store either), so one malformed name never costs a
// batch.
func (s *Store) InsertUsage(ctx context.Context, recs []UsageRecord) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if len(recs) == 0 {
		return nil
	}
	now := s.timestamp()
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		args := make([]any, 0, min(len(recs), usageChunkRows)*usageColumnCount)
		for start := 0; start < len(recs); start += usageChunkRows {
			chunk := recs[start:min(start+usageChunkRows, len(recs))]
			args = args[:0]
			for _, r := range chunk {
				args = appendUsageArgs(args, r, now)
			}
			q := qUsageInsertChunk
			if len(chunk) < usageChunkRows {
				q = usageInsertQuery(len(chunk))
			}
			if _, err := tx.ExecContext(ctx, q.text(s.dialect), args...); err != nil {
				return fmt.Errorf("store: insert usage (records %d-%d of %d): %w", start+1, start+len(chunk), len(recs), err)
			}
		}
		return nil
	})
}

// appendUsageArgs appends r's values in usageColumns order; now stands in for
// a zero Time.
func appendUsageArgs(args []any, r UsageRecord, now time.Time) []any {
	ts := now
	if !r.Time.IsZero() {
		ts = r.Time.UTC().Truncate(time.Microsecond)
	}
	var id any // NULL without an id
	if r.ID != "" {
		id = cleanText(r.ID)
	}
	return append(args, id, ts,
		cleanText(r.RequestID), cleanText(r.KeyID), cleanText(r.KeyName), cleanText(r.Team), cleanText(r.Customer),
		cleanText(r.Kind), cleanText(r.Model), cleanText(r.Server), cleanText(r.Tool),
		r.PromptTokens, r.CompletionTokens, r.CachedTokens, r.CostMicros,
		cleanText(r.Status), r.Duration.Milliseconds())
}

// ceilMicrosecond returns t in UTC rounded up to a whole microsecond. Stored
// times are whole microseconds, so for every stored ts, ts >= t exactly when
// ts >= ceilMicrosecond(t), and likewise for <.
func ceilMicrosecond(t time.Time) time.Time {
	t = t.UTC()
	c := t.Truncate(time.Microsecond)
	if c.Before(t) {
		c = c.Add(time.Microsecond)
	}
	return c
}

// cleanText returns text as both drivers can store it: valid UTF-8 without
// NUL bytes.
func cleanText(text string) string {
	if utf8.ValidString(text) && strings.IndexByte(text, 0) < 0 {
		return text
	}
	return strings.ReplaceAll(strings.ToValidUTF8(text, "\uFFFD"), "\x00", "")
}

// UsageQuery selects and groups usage records for [Store.QueryUsage]. Empty
// fields do not filter.
type UsageQuery struct {
	// KeyID, Team, Model and Kind keep only records with that exact value.
	KeyID, Team, Model, Kind string
	// Tool keeps only records of that tool: "server/tool" (the form of the
	// "tool" group) names one server's tool, a name without '/' that tool on
	// any server.
	Tool string
	// From and To bound the records' Time: From inclusive, To exclusive; a
	// zero Time leaves that side open.
	From, To time.Time
	// GroupBy is "" (one total), "key", "team", "model", "tool" or "day".
	GroupBy string
	// Limit caps the number of rows returned (the first, in Group order); 0
	// means no limit.
	Limit int
}

// UsageRow is one group of usage records, summed.
type UsageRow struct {
	// Group is the group's key id, team, model, "server/tool" or UTC day
	// ("2026-12-01"), by UsageQuery.GroupBy; "" when GroupBy is "". Records
	// without the grouped field (e.g. LLM calls grouped by tool, whose group
	// is "/") form their own group.
	Group string
	// Requests counts the records; Errors those whose Status is not UsageOK.
	Requests, Errors int64
	// PromptTokens, CompletionTokens, CachedTokens and CostMicros are sums.
	PromptTokens, CompletionTokens, CachedTokens, CostMicros int64
}

// usageGroups maps each UsageQuery.GroupBy to its SQL expression per dialect.
// Times are stored in UTC — SQLite as text starting "YYYY-MM-DD" — so the day
// is the UTC day in both. Postgres' groups are collated "C" so that ORDER BY
// sorts them in byte order, as SQLite's BINARY collation does.
var usageGroups = map[string]map[dialect]string{
	"":      {dialectSQLite: `''`, dialectPostgres: `''`},
	"key":   {dialectSQLite: `key_id`, dialectPostgres: `key_id COLLATE "C"`},
	"team":  {dialectSQLite: `team`, dialectPostgres: `team COLLATE "C"`},
	"model": {dialectSQLite: `model`, dialectPostgres: `model COLLATE "C"`},
	"tool":  {dialectSQLite: `server || '/' || tool`, dialectPostgres: `(server || '/' || tool) COLLATE "C"`},
	"day":   {dialectSQLite: `substr(ts, 1, 10)`, dialectPostgres: `to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD')`},
}

// usageSums are the aggregates every usage query returns, in UsageRow order
// after Group, per dialect. Each sum saturates at the largest BIGINT rather
// than failing the query: SQLite's SUM raises an error on overflow, so its
// sums use TOTAL (a float, exact below 2^53) cast back, which clamps;
// Postgres' SUM of BIGINT is NUMERIC, clamped with LEAST before the cast.
// SUM of no rows is NULL, hence COALESCE.
var usageSums = map[dialect]string{
	dialectSQLite: `COUNT(*),
CAST(TOTAL(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END) AS INTEGER),
` + sqliteSum("prompt_tokens") + `,
` + sqliteSum("completion_tokens") + `,
` + sqliteSum("cached_tokens") + `,
` + sqliteSum("cost_micros"),
	dialectPostgres: `COUNT(*),
CAST(COALESCE(SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END), 0) AS BIGINT),
` + postgresSum("prompt_tokens") + `,
` + postgresSum("completion_tokens") + `,
` + postgresSum("cached_tokens") + `,
` + postgresSum("cost_micros"),
}

// sqliteSum is SQLite's saturating sum of a BIGINT column.
func sqliteSum(column string) string { return "CAST(TOTAL(" + column + ") AS INTEGER)" }

// postgresSum is Postgres' saturating sum of a BIGINT column.
func postgresSum(column string) string {
	return "CAST(LEAST(COALESCE(SUM(" + column + "), 0), 9223372036854775807) AS BIGINT)"
}

// QueryUsage sums the usage records q selects, grouped by q.GroupBy in the
// database, ordered by Group (byte order). With GroupBy "" it returns exactly
// one row, all zeros when nothing matches. An unknown GroupBy, a negative
// Limit or From after To is an error.
//
// The statement depends on which filters are set, so it is built per call
// (unlike the store's other queries); QueryUsage is for reports, not for a
// request's path.
func (s *Store) QueryUsage(ctx context.Context, q UsageQuery) ([]UsageRow, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	stmt, args, err := s.usageStatement(q)
	if err != nil {
		return nil, err
	}
	out, err := queryAll(ctx, s.reader, stmt, args, func(row scanner) (UsageRow, error) {
		var r UsageRow
		err := row.Scan(&r.Group, &r.Requests, &r.Errors, &r.PromptTokens, &r.CompletionTokens,
			&r.CachedTokens, &r.CostMicros)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: query usage: %w", err)
	}
	return out, nil
}

// usageStatement builds QueryUsage's SQL, in s's dialect, and its arguments.
func (s *Store) usageStatement(q UsageQuery) (string, []any, error) {
	group, ok := usageGroups[q.GroupBy]
	switch {
	case !ok:
		return "", nil, fmt.Errorf("store: query usage: unknown group_by %q (want \"\", key, team, model, tool or day)", q.GroupBy)
	case q.Limit < 0:
		return "", nil, fmt.Errorf("store: query usage: negative limit %d", q.Limit)
	case !q.From.IsZero() && !q.To.IsZero() && q.From.After(q.To):
		return "", nil, fmt.Errorf("store: query usage: from %s is after to %s",
			q.From.UTC().Format(time.RFC3339Nano), q.To.UTC().Format(time.RFC3339Nano))
	}
	var (
		where []string
		args  []any
	)
	filter := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	for _, f := range []struct{ column, value string }{
		{"key_id", q.KeyID}, {"team", q.Team}, {"model", q.Model}, {"kind", q.Kind},
	} {
		if f.value != "" {
			filter(f.column+" = ?", cleanText(f.value))
		}
	}
	if q.Tool != "" {
		if server, tool, ok := strings.Cut(q.Tool, "/"); ok {
			filter("server = ?", cleanText(server))
			filter("tool = ?", cleanText(tool))
		} else {
			filter("tool = ?", cleanText(q.Tool))
		}
	}
	// Bound times are written like stored ones (UTC, whole microseconds), so
	// SQLite's text comparison orders them as time.
	if !q.From.IsZero() {
		filter("ts >= ?", ceilMicrosecond(q.From))
	}
	if !q.To.IsZero() {
		filter("ts < ?", ceilMicrosecond(q.To))
	}

	var b strings.Builder
	b.WriteString("SELECT " + group[s.dialect] + " AS grp, " + usageSums[s.dialect] + "\nFROM usage")
	if len(where) > 0 {
		b.WriteString("\nWHERE " + strings.Join(where, " AND "))
	}
	if q.GroupBy != "" {
		b.WriteString("\nGROUP BY grp\nORDER BY grp")
	}
	if q.Limit > 0 {
		b.WriteString("\nLIMIT ?")
		args = append(args, q.Limit)
	}
	return newQuery(b.String()).text(s.dialect), args, nil
}

// SpendQuery selects the usage records whose cost counts against one budget.
type SpendQuery struct {
	// KeyID or Team, exactly one, is whose spend is summed.
	KeyID, Team string
	// From (inclusive) and To (exclusive) bound the records' Time; a zero
	// Time leaves that side open.
	From, To time.Time
}

// qSpendByKey and qSpendByTeam sum the cost of one key's or one team's
// records in [from, to), saturating like usageSums; the indexes on
// (key_id, ts) and (team, ts) serve them.
var (
	qSpendByKey = query{
		sqlite:   `SELECT CAST(TOTAL(cost_micros) AS INTEGER) FROM usage WHERE key_id = ? AND ts >= ? AND ts < ?`,
		postgres: rebindDollar(`SELECT ` + postgresSum("cost_micros") + ` FROM usage WHERE key_id = ? AND ts >= ? AND ts < ?`),
	}
	qSpendByTeam = query{
		sqlite:   `SELECT CAST(TOTAL(cost_micros) AS INTEGER) FROM usage WHERE team = ? AND ts >= ? AND ts < ?`,
		postgres: rebindDollar(`SELECT ` + postgresSum("cost_micros") + ` FROM usage WHERE team = ? AND ts >= ? AND ts < ?`),
	}
)

// spendOpenBounds stand in for a zero SpendQuery.From and To: every stored
// time lies between them.
var (
	spendFrom = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	spendTo   = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// SpendMicros sums the cost, in micro-dollars, of the usage records q
// selects, saturating at the largest int64. A budget's spend is rebuilt
// from it when its counter is lost (a restarted gateway, a Redis without
// persistence), so it is one indexed query.
func (s *Store) SpendMicros(ctx context.Context, q SpendQuery) (int64, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	stmt, who := qSpendByKey, q.KeyID
	switch {
	case (q.KeyID == "") == (q.Team == ""):
		return 0, fmt.Errorf("store: spend: set exactly one of KeyID and Team")
	case q.Team != "":
		stmt, who = qSpendByTeam, q.Team
	}
	from, to := spendFrom, spendTo
	if !q.From.IsZero() {
		from = ceilMicrosecond(q.From)
	}
	if !q.To.IsZero() {
		to = ceilMicrosecond(q.To)
	}
	var micros int64
	if err := s.reader.QueryRowContext(ctx, stmt.text(s.dialect), cleanText(who), from, to).Scan(&micros); err != nil {
		return 0, fmt.Errorf("store: spend of %s: %w", who, err)
	}
	return micros, nil
}
