package llm

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/llm/router"
	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/store"
)

// healthSetup is a Service over providers served by one llmtest server,
// with its policy engine (for usage records) and metrics registry.
type healthSetup struct {
	s      *Service
	up     *llmtest.Server
	engine *policy.Engine
	dir    string // the store's data directory
}

// newHealthSetup starts the providers of cfg on an llmtest server (those
// without a base URL) and the Service over them, on clock when not nil.
func newHealthSetup(t testing.TB, cfg Config, clock *testkit.Clock) *healthSetup {
	t.Helper()
	up := llmtest.NewServer()
	t.Cleanup(up.Close)
	for i := range cfg.Providers {
		switch {
		case cfg.Providers[i].BaseURL != "":
		case cfg.Providers[i].Type == TypeAnthropic:
			cfg.Providers[i].BaseURL = up.URL
		default:
			cfg.Providers[i].BaseURL = up.URL + "/v1"
		}
	}
	dir := t.TempDir()
	engine := testPolicy(t, dir)
	opts := Options{Policy: engine, Config: cfg, Registerer: prometheus.NewRegistry(),
		Tools: &fakeHub{tools: []mcp.ToolInfo{tool("web", "add")}}}
	if clock != nil {
		opts.Now, opts.Sleep = clock.Now, clock.Sleep
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &healthSetup{s: s, up: up, engine: engine, dir: dir}
}

// keyed is a provider of type typ with one key, sk-<name>.
func keyed(name, typ string, tm TimeoutsConfig) ProviderConfig {
	return ProviderConfig{Name: name, Type: typ, Keys: []ProviderKeyConfig{{Name: "k", Value: "sk-" + name}}, Timeouts: tm}
}

// post sends one request to path (chat completions, messages or
// embeddings) as the admin, through w (a recorder when nil), and returns
// the answer and the target that served it.
func (h *healthSetup) post(ctx context.Context, path, body string, w http.ResponseWriter) (*httptest.ResponseRecorder, string) {
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	if w == nil {
		w = rec
	}
	serveAs(h.s, policy.AdminIdentity(), w, req)
	return rec, w.Header().Get("X-Junction-Target")
}

// counter reads a counter of the service's metrics.
func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// breakerState is the breaker of provider's target in route.
func (h *healthSetup) breakerState(t *testing.T, route, provider string) router.TargetState {
	t.Helper()
	for _, st := range h.s.router.TargetStates() {
		if st.Route == route && st.Provider == provider {
			return st
		}
	}
	t.Fatalf("no target %s in %s", provider, route)
	return router.TargetState{}
}

// usageByModel flushes the usage records and returns them summed by model.
func (h *healthSetup) usageByModel(t *testing.T) map[string]store.UsageRow {
	t.Helper()
	ctx := context.Background()
	if err := h.engine.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := h.engine.Usage(ctx, store.UsageQuery{GroupBy: "model"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.UsageRow{}
	for _, r := range rows {
		out[r.Group] = r
	}
	return out
}

func TestBrokenStreamsCostTheTargetItsTraffic(t *testing.T) {
	idle := TimeoutsConfig{StreamIdle: 50 * time.Millisecond}
	openAIBody := `{"model":"mix","stream":true,"messages":[{"role":"user","content":"tell me a story"}]}`
	anthropicBody := `{"model":"mix","stream":true,"max_tokens":100,"messages":[{"role":"user","content":"tell me a story"}]}`
	agentBody := `{"model":"mix","stream":true,"messages":[{"role":"user","content":"tell me a story"}],` +
		`"tools":[{"type":"mcp","server_label":"web"}]}`
	cases := []brokenStreamCase{
		{"cut, passed through", "/v1/chat/completions", openAIBody,
			keyed("good", TypeOpenAI, TimeoutsConfig{}), keyed("bad", TypeOpenAI, TimeoutsConfig{}),
			llmtest.Behavior{CloseAfterChunks: 3, ReplyTokens: 30}},
		{"cut, translated", "/v1/chat/completions", openAIBody,
			keyed("good", TypeOpenAI, TimeoutsConfig{}), keyed("bad", TypeAnthropic, TimeoutsConfig{}),
			llmtest.Behavior{CloseAfterChunks: 4, ReplyTokens: 30}},
		{"error event, passed through", "/v1/chat/completions", openAIBody,
			keyed("good", TypeOpenAI, TimeoutsConfig{}), keyed("bad", TypeOpenAI, TimeoutsConfig{}),
			llmtest.Behavior{ErrorAfterChunks: 3, ReplyTokens: 30}},
		{"anthropic error event, passed through", "/v1/messages", anthropicBody,
			keyed("good", TypeAnthropic, TimeoutsConfig{}), keyed("bad", TypeAnthropic, TimeoutsConfig{}),
			llmtest.Behavior{ErrorAfterChunks: 4, FailStatus: 529, ReplyTokens: 30}},
		{"anthropic cut, passed through", "/v1/messages", anthropicBody,
			keyed("good", TypeAnthropic, TimeoutsConfig{}), keyed("bad", TypeAnthropic, TimeoutsConfig{}),
			llmtest.Behavior{CloseAfterChunks: 4, ReplyTokens: 30}},
		{"anthropic ended before message_stop, passed through", "/v1/messages", anthropicBody,
			keyed("good", TypeAnthropic, TimeoutsConfig{}), endsEarly(t), llmtest.Behavior{}},
		{"cut, in the agent loop", "/v1/chat/completions", agentBody,
			keyed("good", TypeOpenAI, TimeoutsConfig{}), keyed("bad", TypeOpenAI, TimeoutsConfig{}),
			llmtest.Behavior{CloseAfterChunks: 3, ReplyTokens: 30}},
		{"silent after the first event", "/v1/chat/completions", openAIBody,
			keyed("good", TypeOpenAI, TimeoutsConfig{}), keyed("bad", TypeOpenAI, idle),
			llmtest.Behavior{ChunkDelay: 5 * time.Second, ReplyTokens: 30}},
	}
	for _, c := range cases {
		for _, strategy := range []string{"adaptive", "weighted"} {
			t.Run(c.name+", "+strategy, func(t *testing.T) { c.run(t, strategy) })
		}
	}
}

// endsEarly is Anthropic provider "bad" whose streams end cleanly, between
// two events, before message_stop.
func endsEarly(t *testing.T) ProviderConfig {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "event: message_start\n"+
			`data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],`+
			`"usage":{"input_tokens":5,"output_tokens":1}}}`+"\n\n"+
			"event: content_block_start\n"+`data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`+"\n\n"+
			"event: content_block_delta\n"+`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Once"}}`+"\n\n")
	}))
	t.Cleanup(srv.Close)
	pc := keyed("bad", TypeAnthropic, TimeoutsConfig{})
	pc.BaseURL = srv.URL
	return pc
}

// brokenStreamCase is a client streaming from path to the alias "mix" over
// providers good and bad, whose streams break as behavior says.
type brokenStreamCase struct {
	name       string
	path, body string
	good, bad  ProviderConfig
	behavior   llmtest.Behavior
}

// run sends the streams with strategy: the adaptive balancer shuns bad for
// its errors, then gives it a request now and then; weighted draws ignore
// errors, so bad's breaker opens after breakerFailures of them. Either way
// bad never serves more than that many.
func (c brokenStreamCase) run(t *testing.T, strategy string) {
	const requests, breakerFailures = 120, 5
	h := newHealthSetup(t, Config{
		Providers: []ProviderConfig{c.good, c.bad},
		Models: []ModelConfig{{Name: "mix", Targets: []TargetConfig{{Model: "good/m"}, {Model: "bad/m"}},
			Strategy: strategy}},
		Routing: RoutingConfig{BreakerFailures: breakerFailures},
	}, nil)
	if err := h.up.SetBehavior("sk-bad", c.behavior); err != nil {
		t.Fatal(err)
	}
	served := map[string]int{}
	for range requests {
		before := h.up.Stats().ByKey["sk-bad"]
		rec, target := h.post(context.Background(), c.path, c.body, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if target == "" { // the agent loop names it in a trailer, which a failed stream lacks
			target = "good/m"
			if h.up.Stats().ByKey["sk-bad"] > before {
				target = "bad/m"
			}
		}
		served[target]++
		if target == "bad/m" && !strings.Contains(rec.Body.String(), "error") {
			t.Fatalf("a broken stream without an error event:\n%s", rec.Body)
		}
	}
	broken := served["bad/m"]
	t.Logf("served %v", served)
	if broken == 0 || broken > breakerFailures {
		t.Fatalf("served %v: the target that breaks its streams kept its share", served)
	}
	if st := h.breakerState(t, "mix", "bad"); st.ErrorRate == 0 || st.InFlight != 0 ||
		(broken == breakerFailures) != (st.Breaker == router.BreakerStateOpen) {
		t.Errorf("bad target %+v after %d broken streams: want errors, and its breaker open after %d",
			st, broken, breakerFailures)
	}
	if strategy == "weighted" && broken != breakerFailures {
		t.Errorf("weighted: bad served %d, want %d (then its breaker opens)", broken, breakerFailures)
	}
	if st := h.breakerState(t, "mix", "good"); st.Breaker != router.BreakerStateClosed || st.ErrorRate != 0 || st.InFlight != 0 {
		t.Errorf("good target %+v", st)
	}

	m := h.s.metrics
	if got := counter(t, m.requests.WithLabelValues("mix", "bad", "502")); got != float64(broken) {
		t.Errorf("requests_total{bad,502} = %v, want %d", got, broken)
	}
	if got := counter(t, m.requests.WithLabelValues("mix", "bad", "200")); got != 0 {
		t.Errorf("requests_total{bad,200} = %v: broken streams counted as successes", got)
	}
	if got := counter(t, m.failures.WithLabelValues("bad", "stream")); got != float64(broken) {
		t.Errorf("upstream_failures_total{bad,stream} = %v, want %d", got, broken)
	}
	if got := counter(t, m.requests.WithLabelValues("mix", "good", "200")); got != float64(served["good/m"]) {
		t.Errorf("requests_total{good,200} = %v, want %d", got, served["good/m"])
	}

	usage := h.usageByModel(t)
	if u := usage["bad/m"]; u.Requests != int64(broken) || u.Errors != u.Requests || u.CompletionTokens == 0 {
		t.Errorf("usage of bad/m %+v: want %d records, all errors, with the tokens produced", u, broken)
	}
	if u := usage["good/m"]; u.Errors != 0 || u.Requests != int64(served["good/m"]) {
		t.Errorf("usage of good/m %+v", u)
	}
}

// hangUpWriter is a client that goes away once the first bytes of the
// answer reach it.
type hangUpWriter struct {
	*httptest.ResponseRecorder
	hangUp context.CancelFunc
}

func (w hangUpWriter) Write(b []byte) (int, error) {
	w.hangUp()
	return w.ResponseRecorder.Write(b)
}

func TestClientHangingUpIsNotTheTargetsFault(t *testing.T) {
	h := newHealthSetup(t, Config{
		Providers: []ProviderConfig{keyed("slow", TypeOpenAI, TimeoutsConfig{})},
		Routing:   RoutingConfig{DrainTimeout: 20 * time.Millisecond},
	}, nil)
	if err := h.up.SetBehavior("sk-slow", llmtest.Behavior{ChunkDelay: 5 * time.Second, ReplyTokens: 30}); err != nil {
		t.Fatal(err)
	}
	const requests = 8 // more than the breaker's threshold
	for range requests {
		ctx, cancel := context.WithCancel(context.Background())
		w := hangUpWriter{ResponseRecorder: httptest.NewRecorder(), hangUp: cancel}
		h.post(ctx, "/v1/chat/completions", `{"model":"slow/m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, w)
		cancel()
	}
	if st := h.breakerState(t, "slow/m", "slow"); st.Breaker != router.BreakerStateClosed || st.ErrorRate != 0 || st.InFlight != 0 {
		t.Errorf("target %+v: clients hanging up counted against it", st)
	}
	m := h.s.metrics
	if got := counter(t, m.requests.WithLabelValues("slow/m", "slow", "499")); got != requests {
		t.Errorf("requests_total{499} = %v, want %d", got, requests)
	}
	if got := counter(t, m.failures.WithLabelValues("slow", "stream")); got != 0 {
		t.Errorf("upstream_failures_total{stream} = %v, want 0", got)
	}
}
