// Package qdranttest is an in-process Qdrant for tests: a gRPC server on
// 127.0.0.1 implementing the subset of Qdrant's Collections and Points
// services that the cache's qdrant back-end uses, built on the go-client's
// generated server interfaces.
//
// Collections: Get, List, Create, Delete, CollectionExists. Points: Upsert,
// Delete (by ids or filter), Search (brute-force cosine with score_threshold,
// limit, offset, with_payload), Count, CreateFieldIndex. Filters evaluate
// must / should / must_not with match keyword, keywords (any), except
// keywords, integer and bool, range (lt, lte, gt, gte) over integer and
// double payload values, has_id and nested filters. Anything else is
// answered with codes.InvalidArgument or codes.Unimplemented, so a test
// notices when the client starts relying on more.
package qdranttest

import (
	"context"
	"fmt"
	"math"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Server is a running fake Qdrant.
type Server struct {
	addr string
	srv  *grpc.Server
	lis  net.Listener
	done chan struct{}

	// mu guards everything below.
	mu          sync.Mutex
	collections map[string]*collection
	delay       time.Duration
	calls       map[string]int
	closed      bool
}

type collection struct {
	dims    int
	points  map[string]*point // by point id key
	indexes map[string]qdrant.FieldType
}

type point struct {
	id      *qdrant.PointId
	vec     []float32 // unit-normalised, as Qdrant does for cosine
	payload map[string]*qdrant.Value
}

// Start starts a server on 127.0.0.1:0.
func Start() (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		addr:        lis.Addr().String(),
		lis:         lis,
		done:        make(chan struct{}),
		collections: map[string]*collection{},
		calls:       map[string]int{},
	}
	s.srv = grpc.NewServer(grpc.UnaryInterceptor(s.intercept))
	qdrant.RegisterCollectionsServer(s.srv, &collectionsService{s: s})
	qdrant.RegisterPointsServer(s.srv, &pointsService{s: s})
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(lis)
	}()
	return s, nil
}

// NewServer starts a server and closes it when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatalf("qdranttest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Addr is host:port of the gRPC API.
func (s *Server) Addr() string { return s.addr }

// Close stops the server (open calls are cut) and waits for it. Idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	closed := s.closed
	s.closed = true
	s.mu.Unlock()
	if closed {
		return
	}
	s.srv.Stop()
	<-s.done
}

// SetDelay makes every call wait d (or until its deadline) before being
// served: a Qdrant that accepts connections but does not answer in time.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Calls returns how many times a method (e.g. "Search", "Upsert") was called.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Collections returns the collection names, sorted.
func (s *Server) Collections() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.collections))
	for n := range s.collections {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Dims returns the vector size of a collection (0 when it does not exist).
func (s *Server) Dims(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.collections[name]; c != nil {
		return c.dims
	}
	return 0
}

// Points returns how many points a collection holds, expired or not.
func (s *Server) Points(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.collections[name]; c != nil {
		return len(c.points)
	}
	return 0
}

// FieldIndexes returns the payload indexes of a collection.
func (s *Server) FieldIndexes(name string) map[string]qdrant.FieldType {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]qdrant.FieldType{}
	if c := s.collections[name]; c != nil {
		for k, v := range c.indexes {
			out[k] = v
		}
	}
	return out
}

func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method := info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:]
	s.mu.Lock()
	s.calls[method]++
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	return handler(ctx, req)
}

// collection returns the named collection; the caller holds mu.
func (s *Server) collection(name string) (*collection, error) {
	c := s.collections[name]
	if c == nil {
		return nil, status.Errorf(codes.NotFound, "Not found: Collection `%s` doesn't exist!", name)
	}
	return c, nil
}

// withCollection runs f on the named collection, holding s.mu.
func withCollection[Res any](s *Server, name string, f func(*collection) (Res, error)) (Res, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	col, err := s.collection(name)
	if err != nil {
		var zero Res
		return zero, err
	}
	return f(col)
}

type collectionsService struct {
	qdrant.UnimplementedCollectionsServer
	s *Server
}

func (c *collectionsService) Get(_ context.Context, r *qdrant.GetCollectionInfoRequest) (*qdrant.GetCollectionInfoResponse, error) {
	return withCollection(c.s, r.GetCollectionName(), func(col *collection) (*qdrant.GetCollectionInfoResponse, error) {
		n := uint64(len(col.points))
		return &qdrant.GetCollectionInfoResponse{Result: &qdrant.CollectionInfo{
			Status:      qdrant.CollectionStatus_Green,
			PointsCount: &n,
			Config: &qdrant.CollectionConfig{Params: &qdrant.CollectionParams{
				VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: uint64(col.dims), Distance: qdrant.Distance_Cosine}),
			}},
		}}, nil
	})
}

func (c *collectionsService) List(context.Context, *qdrant.ListCollectionsRequest) (*qdrant.ListCollectionsResponse, error) {
	res := &qdrant.ListCollectionsResponse{}
	for _, n := range c.s.Collections() {
		res.Collections = append(res.Collections, &qdrant.CollectionDescription{Name: n})
	}
	return res, nil
}

func (c *collectionsService) Create(_ context.Context, r *qdrant.CreateCollection) (*qdrant.CollectionOperationResponse, error) {
	params := r.GetVectorsConfig().GetParams()
	if r.GetCollectionName() == "" || params == nil || params.GetSize() == 0 {
		return nil, status.Error(codes.InvalidArgument, "collection name and one unnamed vector config with a size are required")
	}
	if params.GetDistance() != qdrant.Distance_Cosine {
		return nil, status.Error(codes.Unimplemented, "qdranttest supports only cosine distance")
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.s.collections[r.GetCollectionName()] != nil {
		return nil, status.Errorf(codes.AlreadyExists, "Wrong input: Collection `%s` already exists!", r.GetCollectionName())
	}
	c.s.collections[r.GetCollectionName()] = &collection{
		dims: int(params.GetSize()), points: map[string]*point{}, indexes: map[string]qdrant.FieldType{},
	}
	return &qdrant.CollectionOperationResponse{Result: true}, nil
}

func (c *collectionsService) Delete(_ context.Context, r *qdrant.DeleteCollection) (*qdrant.CollectionOperationResponse, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	_, ok := c.s.collections[r.GetCollectionName()]
	delete(c.s.collections, r.GetCollectionName())
	return &qdrant.CollectionOperationResponse{Result: ok}, nil
}

func (c *collectionsService) CollectionExists(_ context.Context, r *qdrant.CollectionExistsRequest) (*qdrant.CollectionExistsResponse, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return &qdrant.CollectionExistsResponse{Result: &qdrant.CollectionExists{Exists: c.s.collections[r.GetCollectionName()] != nil}}, nil
}

// matching returns the points of c that match f, by key.
func (c *collection) matching(f *qdrant.Filter) (map[string]*point, error) {
	out := make(map[string]*point)
	for k, pt := range c.points {
		ok, err := matchFilter(f, pt)
		if err != nil {
			return nil, err
		}
		if ok {
			out[k] = pt
		}
	}
	return out, nil
}

type pointsService struct {
	qdrant.UnimplementedPointsServer
	s *Server
}

func completed() *qdrant.PointsOperationResponse {
	return &qdrant.PointsOperationResponse{Result: &qdrant.UpdateResult{Status: qdrant.UpdateStatus_Completed}}
}

func idKey(id *qdrant.PointId) (string, error) {
	switch v := id.GetPointIdOptions().(type) {
	case *qdrant.PointId_Num:
		return fmt.Sprintf("n:%d", v.Num), nil
	case *qdrant.PointId_Uuid:
		if !validUUID(v.Uuid) {
			return "", status.Errorf(codes.InvalidArgument, "Unable to parse UUID: %s", v.Uuid)
		}
		return "u:" + v.Uuid, nil
	}
	return "", status.Error(codes.InvalidArgument, "point id is required")
}

func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func denseVector(v *qdrant.Vectors) ([]float32, error) {
	vec := v.GetVector()
	if vec == nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest supports only one unnamed dense vector per point")
	}
	if d := vec.GetDense(); d != nil {
		return d.GetData(), nil
	}
	return nil, status.Error(codes.Unimplemented, "qdranttest supports only dense vectors")
}

func normalized(v []float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	out := make([]float32, len(v))
	if s == 0 {
		return out
	}
	inv := 1 / math.Sqrt(s)
	for i, x := range v {
		out[i] = float32(float64(x) * inv)
	}
	return out
}

func (p *pointsService) Upsert(_ context.Context, r *qdrant.UpsertPoints) (*qdrant.PointsOperationResponse, error) {
	return withCollection(p.s, r.GetCollectionName(), func(col *collection) (*qdrant.PointsOperationResponse, error) {
		staged := make(map[string]*point, len(r.GetPoints()))
		for _, ps := range r.GetPoints() {
			key, err := idKey(ps.GetId())
			if err != nil {
				return nil, err
			}
			vec, err := denseVector(ps.GetVectors())
			if err != nil {
				return nil, err
			}
			if len(vec) != col.dims {
				return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", col.dims, len(vec))
			}
			staged[key] = &point{id: ps.GetId(), vec: normalized(vec), payload: ps.GetPayload()}
		}
		for k, pt := range staged {
			col.points[k] = pt
		}
		return completed(), nil
	})
}

func (p *pointsService) Delete(_ context.Context, r *qdrant.DeletePoints) (*qdrant.PointsOperationResponse, error) {
	return withCollection(p.s, r.GetCollectionName(), func(col *collection) (*qdrant.PointsOperationResponse, error) {
		switch sel := r.GetPoints().GetPointsSelectorOneOf().(type) {
		case *qdrant.PointsSelector_Points:
			for _, id := range sel.Points.GetIds() {
				key, err := idKey(id)
				if err != nil {
					return nil, err
				}
				delete(col.points, key)
			}
		case *qdrant.PointsSelector_Filter:
			doomed, err := col.matching(sel.Filter)
			if err != nil {
				return nil, err
			}
			for k := range doomed {
				delete(col.points, k)
			}
		default:
			return nil, status.Error(codes.InvalidArgument, "a points selector is required")
		}
		return completed(), nil
	})
}

func (p *pointsService) Count(_ context.Context, r *qdrant.CountPoints) (*qdrant.CountResponse, error) {
	return withCollection(p.s, r.GetCollectionName(), func(col *collection) (*qdrant.CountResponse, error) {
		matched, err := col.matching(r.GetFilter())
		if err != nil {
			return nil, err
		}
		return &qdrant.CountResponse{Result: &qdrant.CountResult{Count: uint64(len(matched))}}, nil
	})
}

func (p *pointsService) CreateFieldIndex(_ context.Context, r *qdrant.CreateFieldIndexCollection) (*qdrant.PointsOperationResponse, error) {
	return withCollection(p.s, r.GetCollectionName(), func(col *collection) (*qdrant.PointsOperationResponse, error) {
		if r.GetFieldName() == "" || r.FieldType == nil {
			return nil, status.Error(codes.InvalidArgument, "field name and type are required")
		}
		col.indexes[r.GetFieldName()] = r.GetFieldType()
		return completed(), nil
	})
}

func (p *pointsService) Search(_ context.Context, r *qdrant.SearchPoints) (*qdrant.SearchResponse, error) {
	if r.VectorName != nil && r.GetVectorName() != "" {
		return nil, status.Error(codes.Unimplemented, "qdranttest supports only the unnamed vector")
	}
	return withCollection(p.s, r.GetCollectionName(), func(col *collection) (*qdrant.SearchResponse, error) {
		if len(r.GetVector()) != col.dims {
			return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", col.dims, len(r.GetVector()))
		}
		q := normalized(r.GetVector())
		type scored struct {
			pt    *point
			key   string
			score float32
		}
		matched, err := col.matching(r.GetFilter())
		if err != nil {
			return nil, err
		}
		var hits []scored
		for k, pt := range matched {
			var s float32
			for i := range q {
				s += q[i] * pt.vec[i]
			}
			if r.ScoreThreshold != nil && s < r.GetScoreThreshold() {
				continue
			}
			hits = append(hits, scored{pt, k, s})
		}
		sort.Slice(hits, func(i, j int) bool {
			if hits[i].score != hits[j].score {
				return hits[i].score > hits[j].score
			}
			return hits[i].key < hits[j].key
		})
		if off := int(r.GetOffset()); off > 0 {
			hits = hits[min(off, len(hits)):]
		}
		if limit := int(r.GetLimit()); len(hits) > limit {
			hits = hits[:limit]
		}
		res := &qdrant.SearchResponse{Result: make([]*qdrant.ScoredPoint, 0, len(hits))}
		for _, h := range hits {
			sp := &qdrant.ScoredPoint{Id: h.pt.id, Score: h.score, Payload: selectPayload(r.GetWithPayload(), h.pt.payload)}
			if r.GetWithVectors().GetEnable() {
				sp.Vectors = &qdrant.VectorsOutput{VectorsOptions: &qdrant.VectorsOutput_Vector{Vector: &qdrant.VectorOutput{
					Vector: &qdrant.VectorOutput_Dense{Dense: &qdrant.DenseVector{Data: slices.Clone(h.pt.vec)}},
				}}}
			}
			res.Result = append(res.Result, sp)
		}
		return res, nil
	})
}

func selectPayload(sel *qdrant.WithPayloadSelector, pl map[string]*qdrant.Value) map[string]*qdrant.Value {
	switch s := sel.GetSelectorOptions().(type) {
	case *qdrant.WithPayloadSelector_Enable:
		if s.Enable {
			return pl
		}
	case *qdrant.WithPayloadSelector_Include:
		out := map[string]*qdrant.Value{}
		for _, f := range s.Include.GetFields() {
			if v, ok := pl[f]; ok {
				out[f] = v
			}
		}
		return out
	case *qdrant.WithPayloadSelector_Exclude:
		out := map[string]*qdrant.Value{}
		for k, v := range pl {
			if !slices.Contains(s.Exclude.GetFields(), k) {
				out[k] = v
			}
		}
		return out
	}
	return nil
}
