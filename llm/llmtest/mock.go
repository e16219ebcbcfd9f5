package llmtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Mock is a mock LLM provider as an http.Handler. Serve it with any net/http server
// (NewServer and Listen do that on a loopback listener). All methods are safe for
// concurrent use, including while requests are being served.
//
// Cutting connections (CloseAfterChunks, hangs ended by Close) needs a real net/http
// server: the mock hijacks the connection and closes it, or, where hijacking is not
// supported (HTTP/2), aborts the handler with http.ErrAbortHandler, which a server
// recovers but a bare httptest.ResponseRecorder does not.
type Mock struct {
	cfg    config
	routes map[string]*endpoint

	defaultProfile atomic.Pointer[profile]
	keysMu         sync.RWMutex        // guards keyProfiles
	keyProfiles    map[string]*profile // per API key; replaces the default

	rngMu sync.Mutex // guards rng
	rng   *rand.Rand

	aliasMu sync.RWMutex      // guards aliases
	aliases map[string]string // embedding text → canonical text

	seq   atomic.Uint64 // request sequence numbers, for ids
	stats counters
	log   *requestLog // nil when recording is off

	modelSet        map[string]struct{} // accepted models; nil accepts any
	openAIModels    []byte              // precomputed GET /v1/models body, OpenAI shape
	anthropicModels []byte              // same, Anthropic shape

	lifeMu   sync.RWMutex // guards closed; held for reading while a request joins inflight
	closed   bool
	doneCtx  context.Context // canceled on shutdown: ends hangs, delays and WithSleep functions
	doneStop context.CancelFunc
	inflight sync.WaitGroup
	active   atomic.Int64 // requests being served, for InFlight
}

// New returns a Mock configured by opts, answering with the zero Behavior until told
// otherwise. Close it to end hanging requests.
func New(opts ...Option) *Mock {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	m := &Mock{
		cfg:         cfg,
		keyProfiles: make(map[string]*profile),
		rng:         rand.New(rand.NewPCG(cfg.seed, splitmix64(cfg.seed))),
		aliases:     maps.Clone(cfg.aliases),
		log:         newRequestLog(cfg.requestLog),
	}
	m.doneCtx, m.doneStop = context.WithCancel(context.Background())
	if m.aliases == nil {
		m.aliases = make(map[string]string)
	}
	if cfg.strictModels {
		m.modelSet = make(map[string]struct{}, len(cfg.models))
		for _, id := range cfg.models {
			m.modelSet[id] = struct{}{}
		}
	}
	created := cfg.now()
	m.openAIModels = appendOpenAIModels(nil, cfg.models, created)
	m.anthropicModels = appendAnthropicModels(nil, cfg.models, created)
	m.routes = map[string]*endpoint{
		string(EndpointChatCompletions): {index: indexChatCompletions, method: http.MethodPost, wire: openAIWire{}, serve: (*Mock).serveChatCompletions},
		string(EndpointEmbeddings):      {index: indexEmbeddings, method: http.MethodPost, wire: openAIWire{}, serve: (*Mock).serveEmbeddings},
		string(EndpointModels):          {index: indexModels, method: http.MethodGet, serve: (*Mock).serveModels},
		string(EndpointMessages):        {index: indexMessages, method: http.MethodPost, wire: anthropicWire{}, serve: (*Mock).serveMessages},
		string(EndpointCountTokens):     {index: indexCountTokens, method: http.MethodPost, wire: anthropicWire{}, serve: (*Mock).serveCountTokens},
	}
	m.defaultProfile.Store(newProfile(Behavior{}))
	return m
}

// endpoint is one route of the mock.
type endpoint struct {
	index  endpointIndex
	method string
	wire   wire // nil: chosen from the request's headers
	serve  func(m *Mock, x *exchange)
}

// unknownEndpoint answers paths the mock does not serve.
var unknownEndpoint = &endpoint{index: indexUnknown}

// SetDefault makes b the behaviour for every API key without its own. Counters of the
// previous default (RateLimitNext, ScriptInOrder) start afresh.
func (m *Mock) SetDefault(b Behavior) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("llmtest: default behavior: %w", err)
	}
	m.defaultProfile.Store(newProfile(b))
	return nil
}

// SetBehavior makes b the behaviour for requests presenting key, replacing the default
// entirely for them. Counters of a previous behaviour of the key start afresh.
func (m *Mock) SetBehavior(key string, b Behavior) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("llmtest: behavior for key: %w", err)
	}
	p := newProfile(b)
	m.keysMu.Lock()
	m.keyProfiles[key] = p
	m.keysMu.Unlock()
	return nil
}

// ClearBehavior makes requests presenting key use the default behaviour again.
func (m *Mock) ClearBehavior(key string) {
	m.keysMu.Lock()
	delete(m.keyProfiles, key)
	m.keysMu.Unlock()
}

// SetEmbeddingAlias makes text embed exactly like canonical; see WithEmbeddingAliases.
func (m *Mock) SetEmbeddingAlias(text, canonical string) {
	m.aliasMu.Lock()
	m.aliases[text] = canonical
	m.aliasMu.Unlock()
}

// Stats returns a snapshot of the request counters.
func (m *Mock) Stats() Stats { return m.stats.snapshot() }

// Requests returns copies of the last received requests, oldest first (at most the
// WithRequestLog size).
func (m *Mock) Requests() []RecordedRequest { return m.log.snapshot() }

// LastRequest returns a copy of the most recent received request, if any is kept.
func (m *Mock) LastRequest() (RecordedRequest, bool) {
	reqs := m.log.snapshot()
	if len(reqs) == 0 {
		return RecordedRequest{}, false
	}
	return reqs[len(reqs)-1], true
}

// ResetStats clears the counters and the kept requests.
func (m *Mock) ResetStats() {
	m.stats.reset()
	m.log.reset()
}

// InFlight returns the number of requests being served right now.
func (m *Mock) InFlight() int { return int(m.active.Load()) }

// Close ends hanging and delayed requests (their connections are cut), makes further
// requests fail with 503, and waits for every request being served to return. It is
// idempotent. Close does not stop a server serving the mock; Server.Close does both.
func (m *Mock) Close() {
	m.shutdown()
	m.inflight.Wait()
}

// shutdown signals the end without waiting.
func (m *Mock) shutdown() {
	m.lifeMu.Lock()
	if !m.closed {
		m.closed = true
		m.doneStop()
	}
	m.lifeMu.Unlock()
}

// enter registers a request; false when the mock is closed.
func (m *Mock) enter() bool {
	m.lifeMu.RLock()
	defer m.lifeMu.RUnlock()
	if m.closed {
		return false
	}
	m.inflight.Add(1)
	m.active.Add(1)
	return true
}

func (m *Mock) leave() {
	m.active.Add(-1)
	m.inflight.Done()
}

// profileFor returns the profile answering key.
func (m *Mock) profileFor(key string) *profile {
	m.keysMu.RLock()
	p := m.keyProfiles[key]
	m.keysMu.RUnlock()
	if p != nil {
		return p
	}
	return m.defaultProfile.Load()
}

// authorised reports whether key may call the mock.
func (m *Mock) authorised(key string) bool {
	if key == "" {
		return false
	}
	if m.cfg.apiKeys == nil {
		return true
	}
	_, ok := m.cfg.apiKeys[key]
	return ok
}

// knownModel reports whether the mock serves model.
func (m *Mock) knownModel(model string) bool {
	if m.modelSet == nil {
		return true
	}
	_, ok := m.modelSet[model]
	return ok
}

// embeddingText returns the text an input is embedded as, after aliases.
func (m *Mock) embeddingText(text string) string {
	m.aliasMu.RLock()
	canonical, ok := m.aliases[text]
	m.aliasMu.RUnlock()
	if ok {
		return canonical
	}
	return text
}

// maxBodyBytes bounds request bodies; larger ones get 413.
const maxBodyBytes = 32 << 20

var errBodyTooLargeRead = errors.New("llmtest: request body too large")

// ServeHTTP routes the request to its wire format after the shared steps: counting,
// recording, authentication and behaviour lookup.
func (m *Mock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	entered := m.enter()
	if entered {
		defer m.leave()
	}
	start := time.Now()
	ep := m.route(r.URL.Path)
	x := exchange{m: m, w: w, r: r, ctx: r.Context(), ep: ep, wire: ep.wire, seq: m.seq.Add(1)}
	if x.wire == nil {
		x.wire = wireFromHeaders(r.Header)
	}
	x.key = x.wire.apiKey(r)
	m.stats.countRequest(ep.index)
	if x.key != "" {
		m.stats.countKey(x.key)
	}

	bodyBuf := getBuffer()
	defer putBuffer(bodyBuf)
	var readErr error
	if r.Body != nil && r.Body != http.NoBody {
		x.body, readErr = readBody(r.Body, (*bodyBuf)[:0], r.ContentLength)
		*bodyBuf = x.body[:0]
		if readErr != nil {
			x.body = nil
		}
	}
	if m.log != nil {
		m.log.record(RecordedRequest{
			Time: m.cfg.now(), Endpoint: endpointNames[ep.index], Method: r.Method,
			Path: r.URL.Path, RawQuery: r.URL.RawQuery, Key: x.key,
		}, r.Header, x.body)
	}
	outBuf := getBuffer()
	defer putBuffer(outBuf)
	x.out = (*outBuf)[:0]
	defer func() { *outBuf = x.out[:0] }()
	if m.cfg.logger != nil {
		defer m.logRequest(&x, start)
	}

	switch {
	case !entered:
		x.fail(errMockClosed)
	case errors.Is(readErr, errBodyTooLargeRead):
		x.fail(errBodyTooLarge)
	case readErr != nil:
		x.abandon()
	case ep.serve == nil:
		x.fail(newAPIError(http.StatusNotFound, "Invalid URL (%s %s)", r.Method, r.URL.Path))
	case r.Method != ep.method:
		w.Header().Set("Allow", ep.method)
		x.fail(newAPIError(http.StatusMethodNotAllowed, "Invalid method for URL (%s %s)", r.Method, r.URL.Path))
	case !m.authorised(x.key):
		x.fail(x.wire.authError(x.key))
	default:
		x.profile = m.profileFor(x.key)
		ep.serve(m, &x)
	}
}

// route returns the endpoint serving path. Exact paths are looked up in a map; wire
// formats whose paths carry parameters (Gemini's /v1beta/models/{model}:generateContent,
// Azure's /openai/deployments/{deployment}/...) are to be matched here after it.
func (m *Mock) route(path string) *endpoint {
	if ep := m.routes[path]; ep != nil {
		return ep
	}
	if ep := routeGemini(path); ep != nil {
		return ep
	}
	if ep := azureRoute(path); ep != nil {
		return ep
	}
	return unknownEndpoint
}

// logRequest writes the request's log line.
func (m *Mock) logRequest(x *exchange, start time.Time) {
	m.cfg.logger.LogAttrs(x.ctx, slog.LevelInfo, "llmtest request",
		slog.String("method", x.r.Method),
		slog.String("path", x.r.URL.Path),
		slog.Int("status", x.status),
		slog.String("outcome", x.outcome.String()),
		slog.Duration("duration", time.Since(start)),
	)
}

// readBody reads r into buf, up to maxBodyBytes. size is the announced length, -1 when
// unknown.
func readBody(r io.Reader, buf []byte, size int64) ([]byte, error) {
	if size > 0 && size <= maxBodyBytes && int(size) >= cap(buf) {
		buf = make([]byte, 0, size+1) // +1: EOF is seen without growing
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > maxBodyBytes {
			return buf, errBodyTooLargeRead
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, fmt.Errorf("llmtest: read request body: %w", err)
		}
	}
}

// bufferPool recycles request and response buffers.
var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledBuffer keeps unusually large buffers out of the pool.
const maxPooledBuffer = 1 << 20

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) <= maxPooledBuffer {
		*b = (*b)[:0]
		bufferPool.Put(b)
	}
}

// draw takes the jitter offset and the failure decision (probability FailPercent/100),
// in this order, from the seeded generator. It draws nothing it does not need.
func (m *Mock) draw(b *Behavior) (offset time.Duration, fail bool) {
	if b.Jitter <= 0 && b.FailPercent <= 0 {
		return 0, false
	}
	m.rngMu.Lock()
	defer m.rngMu.Unlock()
	if b.Jitter > 0 {
		// uniform in [-Jitter, +Jitter]
		offset = time.Duration(m.rng.Int64N(2*int64(b.Jitter)+1)) - b.Jitter
	}
	if b.FailPercent > 0 {
		fail = m.rng.Float64()*100 < b.FailPercent
	}
	return offset, fail
}

// errInterrupted reports a delay or hang ended by Close.
var errInterrupted = errors.New("llmtest: mock closed")

// sleep waits d, or less if ctx is done (ctx.Err) or the mock closes (errInterrupted).
func (m *Mock) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	if m.cfg.sleep != nil {
		// The injected sleep sees one context: the request's, also canceled by Close.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(m.doneCtx, cancel)()
		err := m.cfg.sleep(ctx, d)
		if m.doneCtx.Err() != nil {
			return errInterrupted
		}
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-m.doneCtx.Done():
		return errInterrupted
	}
}

// retryAfterValue formats d as whole seconds, rounded up, at least 1.
func retryAfterValue(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}
