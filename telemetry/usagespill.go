package telemetry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/junctionhq/junction/store"
)

// UsageSpillFile is the name, in the data dir, of the file holding usage
// records the store could not take in time.
const UsageSpillFile = "usage-spill.jsonl"

// errSpillFull reports that the spill file reached its size limit.
var errSpillFull = errors.New("telemetry: usage spill file is full")

// usageSpill is the file that holds usage records while the store is away
// and the in-memory buffer fills up, and at shutdown: one JSON object per
// line, appended and fsynced a batch at a time. It is replayed oldest first
// once the store takes records again, and removed when fully replayed; a
// file left by a crash or a shutdown is replayed after the next start.
// Records carry their ID, so a record replayed twice (a crash during a
// replay) is stored once. A torn last line (a crash during an append) is
// cut off at the next start and counted as lost; a line that does not
// decode is skipped and counted.
//
// Only the usage writer's goroutine uses a usageSpill.
type usageSpill struct {
	path string
	max  int64 // bytes the file may grow to
	w    *os.File
	// size is the file's length; done the bytes already replayed.
	size, done int64
	// records counts the records in the file not yet replayed.
	records int64
	buf     []byte
}

// spillRecord is a usage record as a line of the spill file.
type spillRecord struct {
	ID               string    `json:"id"`
	Time             time.Time `json:"ts"`
	RequestID        string    `json:"request_id,omitempty"`
	KeyID            string    `json:"key_id,omitempty"`
	KeyName          string    `json:"key_name,omitempty"`
	Team             string    `json:"team,omitempty"`
	Customer         string    `json:"customer,omitempty"`
	Kind             string    `json:"kind,omitempty"`
	Model            string    `json:"model,omitempty"`
	Server           string    `json:"server,omitempty"`
	Tool             string    `json:"tool,omitempty"`
	PromptTokens     int64     `json:"prompt_tokens,omitempty"`
	CompletionTokens int64     `json:"completion_tokens,omitempty"`
	CachedTokens     int64     `json:"cached_tokens,omitempty"`
	CostMicros       int64     `json:"cost_micros,omitempty"`
	Status           string    `json:"status"`
	DurationMS       int64     `json:"duration_ms,omitempty"`
}

func toSpill(r *store.UsageRecord) spillRecord {
	return spillRecord{ID: r.ID, Time: r.Time, RequestID: r.RequestID, KeyID: r.KeyID, KeyName: r.KeyName, Team: r.Team,
		Customer: r.Customer, Kind: r.Kind, Model: r.Model, Server: r.Server, Tool: r.Tool, PromptTokens: r.PromptTokens,
		CompletionTokens: r.CompletionTokens, CachedTokens: r.CachedTokens, CostMicros: r.CostMicros, Status: r.Status,
		DurationMS: r.Duration.Milliseconds()}
}

func (s *spillRecord) record() store.UsageRecord {
	return store.UsageRecord{ID: s.ID, Time: s.Time, RequestID: s.RequestID, KeyID: s.KeyID, KeyName: s.KeyName, Team: s.Team,
		Customer: s.Customer, Kind: s.Kind, Model: s.Model, Server: s.Server, Tool: s.Tool, PromptTokens: s.PromptTokens,
		CompletionTokens: s.CompletionTokens, CachedTokens: s.CachedTokens, CostMicros: s.CostMicros, Status: s.Status,
		Duration: time.Duration(s.DurationMS) * time.Millisecond}
}

// openSpill returns the spill file in dir, counting the records a previous
// run left in it; nil when dir is empty (no spill file). A torn last line
// (a crash during an append) is cut off, so that new lines start on a line
// of their own; torn reports it.
func openSpill(dir string, maxBytes int64) (s *usageSpill, torn bool, err error) {
	if dir == "" {
		return nil, false, nil
	}
	s = &usageSpill{path: filepath.Join(dir, UsageSpillFile), max: maxBytes}
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("telemetry: open usage spill file: %w", err)
	}
	defer f.Close()
	lines, size, whole, err := countLines(f)
	if err != nil {
		return nil, false, fmt.Errorf("telemetry: read usage spill file: %w", err)
	}
	if whole < size {
		if err := os.Truncate(s.path, whole); err != nil {
			return nil, false, fmt.Errorf("telemetry: cut the torn end off the usage spill file: %w", err)
		}
		torn = true
	}
	s.size, s.records = whole, lines
	return s, torn, nil
}

// countLines counts the whole lines of r, its bytes, and the bytes up to
// the end of its last whole line.
func countLines(r io.Reader) (lines, size, whole int64, err error) {
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
			if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
				whole = size + int64(i) + 1
			}
			size += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return lines, size, whole, nil
		}
		if err != nil {
			return 0, 0, 0, err
		}
	}
}

// pending is the number of records waiting in the file.
func (s *usageSpill) pending() int64 { return s.records }

// append writes recs at the end of the file and syncs it: when it returns
// nil the records are on disk. errSpillFull means the file would grow past
// its limit; nothing was written then.
func (s *usageSpill) append(recs []store.UsageRecord) error {
	s.buf = s.buf[:0]
	for i := range recs {
		line, err := json.Marshal(toSpill(&recs[i]))
		if err != nil {
			return fmt.Errorf("telemetry: encode spilled usage record: %w", err)
		}
		s.buf = append(append(s.buf, line...), '\n')
	}
	if s.size+int64(len(s.buf)) > s.max {
		return errSpillFull
	}
	if s.w == nil {
		f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("telemetry: open usage spill file: %w", err)
		}
		s.w = f
	}
	if _, err := s.w.Write(s.buf); err != nil {
		// Cut a partial line off, so the next append starts on a line of its own.
		_ = s.w.Truncate(s.size)
		return fmt.Errorf("telemetry: write usage spill file: %w", err)
	}
	if err := s.w.Sync(); err != nil {
		_ = s.w.Truncate(s.size)
		return fmt.Errorf("telemetry: sync usage spill file: %w", err)
	}
	s.size += int64(len(s.buf))
	s.records += int64(len(recs))
	return nil
}

// spillChunk is a run of lines read from the spill file, not yet committed.
type spillChunk struct {
	records []store.UsageRecord
	// end is the file offset after the chunk; lines the lines it spans;
	// bad the lines that could not be decoded (a torn last line).
	end        int64
	lines, bad int
}

// next reads up to n records from where the replay stands.
func (s *usageSpill) next(n int) (spillChunk, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return spillChunk{}, fmt.Errorf("telemetry: open usage spill file: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(s.done, io.SeekStart); err != nil {
		return spillChunk{}, fmt.Errorf("telemetry: read usage spill file: %w", err)
	}
	c := spillChunk{end: s.done}
	rd := bufio.NewReaderSize(io.LimitReader(f, s.size-s.done), 64<<10)
	for len(c.records) < n {
		line, err := rd.ReadBytes('\n')
		if len(line) == 0 && errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return spillChunk{}, fmt.Errorf("telemetry: read usage spill file: %w", err)
		}
		c.end += int64(len(line))
		c.lines++
		var sr spillRecord
		if line[len(line)-1] != '\n' || json.Unmarshal(line, &sr) != nil {
			c.bad++
			continue
		}
		c.records = append(c.records, sr.record())
	}
	return c, nil
}

// commit marks c as replayed; once the whole file is, it is removed.
func (s *usageSpill) commit(c spillChunk) error {
	s.done = c.end
	s.records = max(0, s.records-int64(c.lines))
	if s.done < s.size {
		return nil
	}
	return s.reset()
}

// reset removes the file: everything in it was replayed.
func (s *usageSpill) reset() error {
	if s.w != nil {
		_ = s.w.Close()
		s.w = nil
	}
	s.size, s.done, s.records = 0, 0, 0
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("telemetry: remove replayed usage spill file: %w", err)
	}
	return nil
}

// close releases the file, leaving what it holds for the next start.
func (s *usageSpill) close() error {
	if s.w == nil {
		return nil
	}
	err := s.w.Close()
	s.w = nil
	return err
}
