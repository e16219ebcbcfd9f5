package gateway

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/store"
)

// cutStreamCase is one way a stream runs through the gateway: the client's
// format, the model and so the relay path (pass-through or translated).
type cutStreamCase struct {
	path, body string
}

var cutStreamCases = []cutStreamCase{
	// OpenAI client to an OpenAI provider: bytes passed through.
	{"/v1/chat/completions", `{"model":"mock/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"count slowly"}]}`},
	// Anthropic client to an Anthropic provider: bytes passed through; the
	// usage of message_start arrives before the cut.
	{"/v1/messages", `{"model":"claude/claude-sonnet-4-5","max_tokens":100000,"stream":true,"messages":[{"role":"user","content":"count slowly"}]}`},
	// OpenAI client to an Anthropic provider: chunks translated.
	{"/v1/chat/completions", `{"model":"claude/claude-sonnet-4-5","stream":true,"messages":[{"role":"user","content":"count slowly"}]}`},
}

// TestShutdownRecordsEveryCutStream: streams still running at the shutdown
// deadline are cut, and each one is settled and recorded as cancelled with
// the tokens it produced so far; with Redis counters, the reservations of
// the cut streams are returned, so the budget counter holds exactly the
// recorded spend.
func TestShutdownRecordsEveryCutStream(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testShutdownRecordsCutStreams(t, nil) })
	t.Run("redis", func(t *testing.T) {
		url := testkit.RedisURL(t)
		var p [6]byte
		_, _ = rand.Read(p[:])
		testShutdownRecordsCutStreams(t, &policy.RedisCountersConfig{URL: url, Prefix: "junction-test-" + hex.EncodeToString(p[:]) + ":",
			Timeout: 10 * time.Second}) // many streams at once under -race: not a Redis fault test
	})
}

func testShutdownRecordsCutStreams(t *testing.T, redis *policy.RedisCountersConfig) {
	const streams = 30
	mock := llmtest.NewServer(llmtest.WithSeed(7))
	t.Cleanup(mock.Close)
	// Streams that would run for minutes: one word every 20 ms.
	if err := mock.SetDefault(llmtest.Behavior{ReplyTokens: 20000, ChunkDelay: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	mutate := func(c *Config) {
		c.DataDir = dataDir
		c.Providers = []llm.ProviderConfig{
			{Name: "mock", Type: llm.TypeOpenAI, BaseURL: mock.URL + "/v1", Keys: []llm.ProviderKeyConfig{{Name: "main", Value: "sk-main"}}},
			{Name: "claude", Type: llm.TypeAnthropic, BaseURL: mock.URL, Keys: []llm.ProviderKeyConfig{{Value: "sk-ant"}}},
		}
		if redis != nil {
			c.Counters.Redis = redis
		}
	}
	gw := startGateway(t, mutate)
	key, secret, err := gw.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "streamer",
		Budget: &policy.Budget{USD: 1000, Period: policy.PeriodDay}})
	if err != nil {
		t.Fatal(err)
	}

	// Start every stream and wait until each has delivered a few events.
	var running, finished sync.WaitGroup
	for i := range streams {
		c := cutStreamCases[i%len(cutStreamCases)]
		running.Add(1)
		finished.Add(1)
		go func() {
			defer finished.Done()
			req, _ := http.NewRequest(http.MethodPost, gw.URL+c.path, strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+secret)
			req.Header.Set("x-api-key", secret)
			req.Header.Set("anthropic-version", "2023-06-01")
			events, status, err := streamPastFiveEvents(req, &running)
			if err != nil {
				t.Errorf("stream %d: %v", i, err)
			} else if events < 5 {
				t.Errorf("stream %d (%s) ended after %d events, status %d", i, c.body, events, status)
			}
		}()
	}
	running.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if err := gw.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	finished.Wait()

	// One record per stream, cancelled, with the tokens produced so far.
	recs := usageRecords(t, dataDir, key.ID)
	var spent int64
	for _, r := range recs {
		spent += r.micros
		// The client saw at least four content events before the cut.
		if r.status != "cancelled" || r.prompt <= 0 || r.completion < 4 || r.micros <= 0 {
			t.Errorf("record %+v: want cancelled with the tokens so far", r)
		}
	}
	if len(recs) != streams {
		t.Fatalf("%d usage records for %d streams cut by shutdown", len(recs), streams)
	}
	if redis == nil {
		return
	}
	// The counter shared through Redis holds the recorded spend and nothing
	// of the cut streams' reservations.
	again := startGateway(t, mutate)
	st, err := again.Policy().State(context.Background(), key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Budgets) != 1 {
		t.Fatalf("budgets: %+v", st.Budgets)
	}
	if got := int64(math.Round(st.Budgets[0].SpentUSD * 1e6)); got != spent {
		t.Fatalf("budget counter %d micros, recorded spend %d micros: %s of reservations never returned",
			got, spent, fmt.Sprintf("$%.6f", float64(got-spent)/1e6))
	}
}

// usageRecord is one row of the usage ledger, as the tests read it.
type usageRecord struct {
	requestID, model, status   string
	prompt, completion, micros int64
}

// usageRecords reads the usage records of key from the SQLite database in
// dataDir, after the gateway using it has shut down.
func usageRecords(t *testing.T, dataDir, keyID string) []usageRecord {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dataDir, store.DefaultSQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT request_id, model, status, prompt_tokens, completion_tokens, cost_micros FROM usage WHERE key_id = ?`, keyID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []usageRecord
	for rows.Next() {
		var r usageRecord
		if err := rows.Scan(&r.requestID, &r.model, &r.status, &r.prompt, &r.completion, &r.micros); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestShutdownRecordsCutAgentStreams: an agent loop streaming a model turn
// at the shutdown deadline is cut at once, and the turn is settled and
// recorded as cancelled with the tokens so far.
func TestShutdownRecordsCutAgentStreams(t *testing.T) {
	const streams = 4
	dataDir := t.TempDir()
	s := startAgent(t, func(c *Config) { c.DataDir = dataDir })
	if err := s.mock.SetDefault(llmtest.Behavior{ChunkDelay: 20 * time.Millisecond, ScriptMode: llmtest.ScriptByToolResults,
		Script: []llmtest.Turn{llmtest.TextTurn(strings.Repeat("word ", 5000))}}); err != nil {
		t.Fatal(err)
	}
	var running, finished sync.WaitGroup
	for range streams {
		running.Add(1)
		finished.Add(1)
		go func() {
			defer finished.Done()
			req, _ := http.NewRequest(http.MethodPost, s.gw.URL+"/v1/chat/completions", strings.NewReader(`{"model":"fast","stream":true,`+agentUser+`,
				"tools":[{"type":"mcp","server_label":"web"}]}`))
			req.Header.Set("Authorization", "Bearer "+s.key)
			events, _, err := streamPastFiveEvents(req, &running)
			if err != nil {
				t.Error(err)
			} else if events < 5 {
				t.Errorf("agent stream ended after %d events", events)
			}
		}()
	}
	running.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if err := s.gw.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	finished.Wait()
	recs := usageRecords(t, dataDir, s.keyID)
	if len(recs) != streams {
		t.Fatalf("%d usage records for %d agent streams cut by shutdown: %+v", len(recs), streams, recs)
	}
	for _, r := range recs {
		if r.status != "cancelled" || r.completion < 4 {
			t.Errorf("record %+v: want cancelled with the tokens so far", r)
		}
	}
}

// streamPastFiveEvents sends req and reads its stream to the end, counting
// the SSE data events; running is marked done at the fifth event, or when
// the request fails or the stream ends before it. It returns the events
// and the response status.
func streamPastFiveEvents(req *http.Request, running *sync.WaitGroup) (events, status int, err error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		running.Done()
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data:") {
			if events++; events == 5 {
				running.Done()
			}
		}
	}
	if events < 5 {
		running.Done()
	}
	return events, resp.StatusCode, nil
}
