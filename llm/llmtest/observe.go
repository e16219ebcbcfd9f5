package llmtest

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Endpoint names an API endpoint of the mock; it is the request path, with
// {placeholders} for the parameters of parameterised paths (Gemini's).
type Endpoint string

// The endpoints the mock serves. EndpointUnknown counts requests to any other path.
const (
	EndpointChatCompletions Endpoint = "/v1/chat/completions"
	EndpointEmbeddings      Endpoint = "/v1/embeddings"
	EndpointModels          Endpoint = "/v1/models"
	EndpointMessages        Endpoint = "/v1/messages"
	EndpointCountTokens     Endpoint = "/v1/messages/count_tokens"
	EndpointUnknown         Endpoint = "unknown"

	EndpointGenerateContent       Endpoint = "/v1beta/models/{model}:generateContent"
	EndpointStreamGenerateContent Endpoint = "/v1beta/models/{model}:streamGenerateContent"
	EndpointEmbedContent          Endpoint = "/v1beta/models/{model}:embedContent"
	EndpointBatchEmbedContents    Endpoint = "/v1beta/models/{model}:batchEmbedContents"
	EndpointGeminiModels          Endpoint = "/v1beta/models"
)

// endpointIndex gives each Endpoint a slot in the counters array.
type endpointIndex int

const (
	indexUnknown endpointIndex = iota
	indexChatCompletions
	indexEmbeddings
	indexModels
	indexMessages
	indexCountTokens
	indexGenerateContent
	indexStreamGenerateContent
	indexEmbedContent
	indexBatchEmbedContents
	indexGeminiModels
	numEndpoints
)

var endpointNames = [numEndpoints]Endpoint{
	indexUnknown:         EndpointUnknown,
	indexChatCompletions: EndpointChatCompletions,
	indexEmbeddings:      EndpointEmbeddings,
	indexModels:          EndpointModels,
	indexMessages:        EndpointMessages,
	indexCountTokens:     EndpointCountTokens,

	indexGenerateContent:       EndpointGenerateContent,
	indexStreamGenerateContent: EndpointStreamGenerateContent,
	indexEmbedContent:          EndpointEmbedContent,
	indexBatchEmbedContents:    EndpointBatchEmbedContents,
	indexGeminiModels:          EndpointGeminiModels,
}

// Stats is a snapshot of what the mock has received and answered.
type Stats struct {
	// Requests is the number of requests received.
	Requests int64
	// ByEndpoint counts requests per endpoint.
	ByEndpoint map[Endpoint]int64
	// ByKey counts requests per API key presented (valid or not). Beyond
	// MaxTrackedKeys distinct keys, further new keys are counted under OtherKeys.
	ByKey map[string]int64
	// ByStatus counts answers per HTTP status.
	ByStatus map[int]int64
	// Canceled counts requests the client abandoned before they were answered.
	Canceled int64
	// Cut counts connections the mock cut on purpose: streams stopped by
	// CloseAfterChunks, and hanging or delayed requests ended by Close.
	Cut int64
	// StreamErrors counts streams ended with an in-band error event by
	// ErrorAfterChunks.
	StreamErrors int64
}

// MaxTrackedKeys bounds the distinct keys counted in Stats.ByKey, so that a
// long-running mock hit with random keys keeps bounded memory.
const MaxTrackedKeys = 10000

// OtherKeys is the Stats.ByKey entry counting keys beyond MaxTrackedKeys.
const OtherKeys = "(other keys)"

// counters are the live, lock-free counterparts of Stats.
type counters struct {
	requests     atomic.Int64
	byEndpoint   [numEndpoints]atomic.Int64
	byStatus     [600]atomic.Int64 // indexed by status code; 1xx–5xx fit
	canceled     atomic.Int64
	cut          atomic.Int64
	streamErrors atomic.Int64 // streams ended with an error event

	keysMu sync.RWMutex             // guards byKey (the map, not the counters)
	byKey  map[string]*atomic.Int64 // per presented API key
}

func (c *counters) countRequest(ep endpointIndex) {
	c.requests.Add(1)
	c.byEndpoint[ep].Add(1)
}

func (c *counters) countStatus(status int) {
	if status >= 0 && status < len(c.byStatus) {
		c.byStatus[status].Add(1)
	}
}

// countKey counts a request made with key. The common case (a known key) takes only
// a read lock and allocates nothing.
func (c *counters) countKey(key string) {
	c.keysMu.RLock()
	n := c.byKey[key]
	c.keysMu.RUnlock()
	if n == nil {
		c.keysMu.Lock()
		if n = c.byKey[key]; n == nil {
			if c.byKey == nil {
				c.byKey = make(map[string]*atomic.Int64)
			}
			if len(c.byKey) >= MaxTrackedKeys {
				key = OtherKeys
			}
			if n = c.byKey[key]; n == nil {
				n = new(atomic.Int64)
				c.byKey[key] = n
			}
		}
		c.keysMu.Unlock()
	}
	n.Add(1)
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Requests:     c.requests.Load(),
		ByEndpoint:   make(map[Endpoint]int64, numEndpoints),
		ByStatus:     make(map[int]int64),
		Canceled:     c.canceled.Load(),
		Cut:          c.cut.Load(),
		StreamErrors: c.streamErrors.Load(),
	}
	for i := range c.byEndpoint {
		if n := c.byEndpoint[i].Load(); n > 0 {
			s.ByEndpoint[endpointNames[i]] = n
		}
	}
	for status := range c.byStatus {
		if n := c.byStatus[status].Load(); n > 0 {
			s.ByStatus[status] = n
		}
	}
	c.keysMu.RLock()
	s.ByKey = make(map[string]int64, len(c.byKey))
	for k, n := range c.byKey {
		s.ByKey[k] = n.Load()
	}
	c.keysMu.RUnlock()
	return s
}

func (c *counters) reset() {
	c.requests.Store(0)
	for i := range c.byEndpoint {
		c.byEndpoint[i].Store(0)
	}
	for i := range c.byStatus {
		c.byStatus[i].Store(0)
	}
	c.canceled.Store(0)
	c.cut.Store(0)
	c.streamErrors.Store(0)
	c.keysMu.Lock()
	c.byKey = nil
	c.keysMu.Unlock()
}

// RecordedRequest is a copy of a request the mock received.
type RecordedRequest struct {
	// Time is when the request arrived, by the mock's clock.
	Time time.Time
	// Endpoint is the endpoint the request was routed to.
	Endpoint Endpoint
	// Method, Path and RawQuery are those of the request URL.
	Method   string
	Path     string
	RawQuery string
	// Header is a copy of the request headers.
	Header http.Header
	// Body is a copy of the request body; nil when it was too large to read.
	Body []byte
	// Key is the API key presented, "" when none.
	Key string
}

// requestLog keeps the last len(ring) requests.
type requestLog struct {
	mu    sync.Mutex        // guards ring, next and full
	ring  []RecordedRequest // fixed capacity; next is the slot written next
	next  int
	total int
}

func newRequestLog(n int) *requestLog {
	if n <= 0 {
		return nil
	}
	return &requestLog{ring: make([]RecordedRequest, n)}
}

// record stores a copy of the request; the caller's header and body are not retained.
func (l *requestLog) record(rr RecordedRequest, header http.Header, body []byte) {
	if l == nil {
		return
	}
	rr.Header = header.Clone()
	if body != nil {
		rr.Body = append([]byte(nil), body...)
	}
	l.mu.Lock()
	l.ring[l.next] = rr
	l.next = (l.next + 1) % len(l.ring)
	l.total++
	l.mu.Unlock()
}

// snapshot returns the kept requests, oldest first. Callers may modify the result.
func (l *requestLog) snapshot() []RecordedRequest {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(l.total, len(l.ring))
	out := make([]RecordedRequest, 0, n)
	start := (l.next - n + len(l.ring)) % len(l.ring)
	for i := range n {
		rr := l.ring[(start+i)%len(l.ring)]
		rr.Header = rr.Header.Clone()
		rr.Body = append([]byte(nil), rr.Body...)
		out = append(out, rr)
	}
	return out
}

func (l *requestLog) reset() {
	if l == nil {
		return
	}
	l.mu.Lock()
	clear(l.ring)
	l.next, l.total = 0, 0
	l.mu.Unlock()
}
