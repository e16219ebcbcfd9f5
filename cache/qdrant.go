package cache

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// QdrantOptions are the optional parts of NewQdrantIndex.
type QdrantOptions struct {
	// Now is the clock for expiry: a point's expires_at payload (unix
	// seconds) is compared with it in every filter. Default time.Now.
	Now    func() time.Time
	Logger zerolog.Logger
	// DialOptions are added to the gRPC dial options (tests use them).
	DialOptions []grpc.DialOption
}

// Payload fields of a Qdrant point. The keyword fields hold the value with a
// "=" in front, so that an empty scope field ("no tools") is a real keyword
// that a match condition can select.
const (
	qfID        = "id"
	qfTenant    = "tenant"
	qfModel     = "model"
	qfTools     = "tools"
	qfContext   = "context"
	qfExpiresAt = "expires_at"
	qfValue     = "value"
)

// qdrantNever is the expires_at of a point without expiry.
const qdrantNever = math.MaxInt64 / 2

// qdrantIndex is the Index on Qdrant: a collection per embedder and vector
// length (created on first use, cosine distance, payload indexes on the filter
// fields), scope and expiry in payload filters, and a sweeper goroutine that
// deletes expired points.
type qdrantIndex struct {
	conn        *grpc.ClientConn
	points      qdrant.PointsClient
	collections qdrant.CollectionsClient
	base        string // collection name without the dimensions
	timeout     time.Duration
	now         func() time.Time
	log         zerolog.Logger

	// mu guards ready.
	mu    sync.Mutex
	ready map[string]bool // collections known to exist with their indexes

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var _ Index = (*qdrantIndex)(nil)

// QdrantCollection returns the collection name for an embedder and vector
// length: prefix + "_" + the embedder name with every character other than
// a-z, 0-9, '-' and '_' replaced by '_' + "_" + dims.
func QdrantCollection(prefix, embedder string, dims int) string {
	return qdrantBase(prefix, embedder) + strconv.Itoa(dims)
}

func qdrantBase(prefix, embedder string) string {
	if prefix == "" {
		prefix = DefaultCollectionPrefix
	}
	var b strings.Builder
	for _, r := range strings.ToLower(embedder) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return prefix + "_" + b.String() + "_"
}

// NewQdrantIndex talks to Qdrant over gRPC. It does not wait for Qdrant: the
// connection is made on first use, and every call is bounded by cfg.Timeout
// (default 100ms), so a dead Qdrant makes calls fail fast. Collections are
// created on first use; dims > 0 creates that collection now, if Qdrant
// answers. Close stops the sweeper and closes the connection.
func NewQdrantIndex(ctx context.Context, cfg QdrantConfig, embedder string, dims int, opts QdrantOptions) (Index, error) {
	if cfg.URL == "" {
		return nil, errors.New("cache: qdrant: url is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultQdrantTimeout
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	creds := insecure.NewCredentials()
	if cfg.TLS {
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	dial := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if cfg.APIKey != "" {
		key := cfg.APIKey
		dial = append(dial, grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, o ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, "api-key", key), method, req, reply, cc, o...)
		}))
	}
	conn, err := grpc.NewClient(strings.TrimPrefix(strings.TrimPrefix(cfg.URL, "http://"), "https://"), append(dial, opts.DialOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("cache: qdrant %s: %w", cfg.URL, err)
	}
	q := &qdrantIndex{
		conn:        conn,
		points:      qdrant.NewPointsClient(conn),
		collections: qdrant.NewCollectionsClient(conn),
		base:        qdrantBase(cfg.CollectionPrefix, embedder),
		timeout:     cfg.Timeout,
		now:         opts.Now,
		log:         opts.Logger,
		ready:       map[string]bool{},
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	if dims > 0 {
		if err := q.ensure(ctx, dims); err != nil {
			q.log.Warn().Err(err).Msg("qdrant is not reachable yet; the cache misses until it is")
		}
	}
	go q.sweepLoop(cfg.SweepInterval)
	return q, nil
}

func (q *qdrantIndex) wrap(op string, err error) error {
	return &BackendError{Backend: BackendQdrant, Op: op, Err: err}
}

func (q *qdrantIndex) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, q.timeout)
}

// ensure creates the collection for dims and its payload indexes unless it
// is known to exist.
func (q *qdrantIndex) ensure(ctx context.Context, dims int) error {
	name := q.base + strconv.Itoa(dims)
	q.mu.Lock()
	ok := q.ready[name]
	q.mu.Unlock()
	if ok {
		return nil
	}
	cctx, cancel := q.call(ctx)
	defer cancel()
	ex, err := q.collections.CollectionExists(cctx, &qdrant.CollectionExistsRequest{CollectionName: name})
	if err != nil {
		return q.wrap("collection exists", err)
	}
	if !ex.GetResult().GetExists() {
		_, err := q.collections.Create(cctx, &qdrant.CreateCollection{
			CollectionName: name,
			VectorsConfig:  qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: uint64(dims), Distance: qdrant.Distance_Cosine}),
		})
		if err != nil {
			// Another replica may have created it meanwhile.
			ex, err2 := q.collections.CollectionExists(cctx, &qdrant.CollectionExistsRequest{CollectionName: name})
			if err2 != nil || !ex.GetResult().GetExists() {
				return q.wrap("create collection", err)
			}
		}
		wait := true
		for _, f := range []struct {
			name string
			typ  qdrant.FieldType
		}{
			{qfTenant, qdrant.FieldType_FieldTypeKeyword},
			{qfModel, qdrant.FieldType_FieldTypeKeyword},
			{qfTools, qdrant.FieldType_FieldTypeKeyword},
			{qfContext, qdrant.FieldType_FieldTypeKeyword},
			{qfExpiresAt, qdrant.FieldType_FieldTypeInteger},
		} {
			typ := f.typ
			if _, err := q.points.CreateFieldIndex(cctx, &qdrant.CreateFieldIndexCollection{
				CollectionName: name, FieldName: f.name, FieldType: &typ, Wait: &wait,
			}); err != nil {
				return q.wrap("create field index", err)
			}
		}
	}
	q.mu.Lock()
	q.ready[name] = true
	q.mu.Unlock()
	return nil
}

// QdrantPointID derives the Qdrant point ID (a UUID) from an Index point ID.
func QdrantPointID(id string) string {
	h := sha256.Sum256([]byte(id))
	h[6] = h[6]&0x0f | 0x50 // version 5 (name-based, SHA)
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	s := hex.EncodeToString(h[:16])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

func keyword(v string) string { return "=" + v }

func (q *qdrantIndex) Upsert(ctx context.Context, p Point) error {
	if len(p.Vector) == 0 {
		return ErrZeroVector
	}
	if err := q.ensure(ctx, len(p.Vector)); err != nil {
		return err
	}
	exp := int64(qdrantNever)
	if !p.ExpiresAt.IsZero() {
		exp = p.ExpiresAt.Unix()
	}
	wait := true
	cctx, cancel := q.call(ctx)
	defer cancel()
	_, err := q.points.Upsert(cctx, &qdrant.UpsertPoints{
		CollectionName: q.base + strconv.Itoa(len(p.Vector)),
		Wait:           &wait,
		Points: []*qdrant.PointStruct{{
			Id:      qdrant.NewIDUUID(QdrantPointID(p.ID)),
			Vectors: qdrant.NewVectorsDense(p.Vector),
			Payload: map[string]*qdrant.Value{
				qfID:        qdrant.NewValueString(p.ID),
				qfTenant:    qdrant.NewValueString(keyword(p.Scope.Tenant)),
				qfModel:     qdrant.NewValueString(keyword(p.Scope.Model)),
				qfTools:     qdrant.NewValueString(keyword(p.Scope.Tools)),
				qfContext:   qdrant.NewValueString(keyword(p.Context)),
				qfExpiresAt: qdrant.NewValueInt(exp),
				qfValue:     qdrant.NewValueString(base64.StdEncoding.EncodeToString(p.Payload)),
			},
		}},
	})
	if err != nil {
		return q.wrap("upsert", err)
	}
	return nil
}

// filter translates f, plus "not expired" when live, into a Qdrant filter.
func (q *qdrantIndex) filter(f IndexFilter, live bool) *qdrant.Filter {
	var must []*qdrant.Condition
	for _, c := range []struct{ field, value string }{
		{qfTenant, f.Tenant}, {qfModel, f.Model}, {qfTools, f.Tools}, {qfContext, f.Context},
	} {
		if c.value != "" || f.Exact {
			must = append(must, qdrant.NewMatchKeyword(c.field, keyword(c.value)))
		}
	}
	if live {
		now := float64(q.now().Unix())
		must = append(must, qdrant.NewRange(qfExpiresAt, &qdrant.Range{Gt: &now}))
	}
	return &qdrant.Filter{Must: must}
}

func (q *qdrantIndex) Search(ctx context.Context, vector []float32, f IndexFilter, k int, minScore float64) ([]Match, error) {
	if k <= 0 || len(vector) == 0 {
		return nil, nil
	}
	if err := q.ensure(ctx, len(vector)); err != nil {
		return nil, err
	}
	threshold := float32(minScore)
	cctx, cancel := q.call(ctx)
	defer cancel()
	res, err := q.points.Search(cctx, &qdrant.SearchPoints{
		CollectionName: q.base + strconv.Itoa(len(vector)),
		Vector:         vector,
		Filter:         q.filter(f, true),
		Limit:          uint64(k),
		ScoreThreshold: &threshold,
		WithPayload:    qdrant.NewWithPayload(true),
	})
	if err != nil {
		return nil, q.wrap("search", err)
	}
	out := make([]Match, 0, len(res.GetResult()))
	for _, sp := range res.GetResult() {
		p, err := decodeQdrantPayload(sp.GetPayload())
		if err != nil {
			return nil, q.wrap("decode", err)
		}
		out = append(out, Match{Point: p, Score: min(float64(sp.GetScore()), 1)})
	}
	sortMatches(out)
	return out, nil
}

// decodeQdrantPayload rebuilds a Point (without its vector) from a payload the
// index wrote. Anything else is an error wrapping ErrCorruptEntry.
func decodeQdrantPayload(pl map[string]*qdrant.Value) (Point, error) {
	var p Point
	str := func(field string, kw bool) (string, error) {
		v, ok := pl[field].GetKind().(*qdrant.Value_StringValue)
		if !ok {
			return "", fmt.Errorf("%w: payload %s is not a string", ErrCorruptEntry, field)
		}
		s := v.StringValue
		if kw {
			if !strings.HasPrefix(s, "=") {
				return "", fmt.Errorf("%w: payload %s lacks its prefix", ErrCorruptEntry, field)
			}
			s = s[1:]
		}
		return s, nil
	}
	var err error
	fields := []struct {
		name string
		kw   bool
		dst  *string
	}{{qfID, false, &p.ID}, {qfTenant, true, &p.Scope.Tenant}, {qfModel, true, &p.Scope.Model}, {qfTools, true, &p.Scope.Tools}, {qfContext, true, &p.Context}}
	for _, f := range fields {
		if *f.dst, err = str(f.name, f.kw); err != nil {
			return Point{}, err
		}
	}
	exp, ok := pl[qfExpiresAt].GetKind().(*qdrant.Value_IntegerValue)
	if !ok {
		return Point{}, fmt.Errorf("%w: payload expires_at is not an integer", ErrCorruptEntry)
	}
	if exp.IntegerValue < qdrantNever {
		p.ExpiresAt = time.Unix(exp.IntegerValue, 0).UTC()
	}
	value, err := str(qfValue, false)
	if err != nil {
		return Point{}, err
	}
	if p.Payload, err = base64.StdEncoding.DecodeString(value); err != nil {
		return Point{}, fmt.Errorf("%w: payload value: %v", ErrCorruptEntry, err)
	}
	return p, nil
}

// ourCollections lists the collections of this embedder (any dimensions).
func (q *qdrantIndex) ourCollections(ctx context.Context) ([]string, error) {
	res, err := q.collections.List(ctx, &qdrant.ListCollectionsRequest{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, c := range res.GetCollections() {
		if n := c.GetName(); strings.HasPrefix(n, q.base) {
			if _, err := strconv.Atoi(n[len(q.base):]); err == nil {
				names = append(names, n)
			}
		}
	}
	return names, nil
}

// Delete removes the points matching f in every collection of the embedder,
// expired or not, and returns how many live ones it removed (counted first, so
// exact unless writes race it).
func (q *qdrantIndex) Delete(ctx context.Context, f IndexFilter) (int64, error) {
	return q.deleteWhere(ctx, q.filter(f, false), q.filter(f, true), "delete")
}

// deleteWhere deletes the points matching filter and returns how many match
// count.
func (q *qdrantIndex) deleteWhere(ctx context.Context, filter, count *qdrant.Filter, op string) (int64, error) {
	cctx, cancel := q.call(ctx)
	defer cancel()
	names, err := q.ourCollections(cctx)
	if err != nil {
		return 0, q.wrap(op, err)
	}
	var total int64
	exact, wait := true, true
	for _, name := range names {
		c, err := q.points.Count(cctx, &qdrant.CountPoints{CollectionName: name, Filter: count, Exact: &exact})
		if err != nil {
			return total, q.wrap(op, err)
		}
		if _, err := q.points.Delete(cctx, &qdrant.DeletePoints{
			CollectionName: name, Wait: &wait, Points: qdrant.NewPointsSelectorFilter(filter),
		}); err != nil {
			return total, q.wrap(op, err)
		}
		total += int64(c.GetResult().GetCount())
	}
	return total, nil
}

// Len counts the live points of every collection of the embedder.
func (q *qdrantIndex) Len(ctx context.Context) (int64, error) {
	cctx, cancel := q.call(ctx)
	defer cancel()
	names, err := q.ourCollections(cctx)
	if err != nil {
		return 0, q.wrap("count", err)
	}
	var total int64
	exact := true
	for _, name := range names {
		c, err := q.points.Count(cctx, &qdrant.CountPoints{CollectionName: name, Filter: q.filter(IndexFilter{}, true), Exact: &exact})
		if err != nil {
			return 0, q.wrap("count", err)
		}
		total += int64(c.GetResult().GetCount())
	}
	return total, nil
}

// Sweep deletes the expired points now and returns how many.
func (q *qdrantIndex) Sweep(ctx context.Context) (int64, error) {
	now := float64(q.now().Unix())
	expired := &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewRange(qfExpiresAt, &qdrant.Range{Lte: &now})}}
	return q.deleteWhere(ctx, expired, expired, "sweep")
}

func (q *qdrantIndex) sweepLoop(every time.Duration) {
	defer close(q.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*q.timeout)
			if n, err := q.Sweep(ctx); err != nil {
				q.log.Warn().Err(err).Msg("qdrant sweep of expired cache points failed")
			} else if n > 0 {
				q.log.Debug().Int64("points", n).Msg("qdrant sweep deleted expired cache points")
			}
			cancel()
		}
	}
}

// Close stops the sweeper, waits for it and closes the connection.
func (q *qdrantIndex) Close() error {
	var err error
	q.closeOnce.Do(func() {
		close(q.stop)
		<-q.done
		err = q.conn.Close()
	})
	return err
}
