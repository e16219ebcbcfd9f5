package qdranttest

import (
	"context"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func client(t *testing.T, s *Server) (qdrant.CollectionsClient, qdrant.PointsClient) {
	t.Helper()
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return qdrant.NewCollectionsClient(conn), qdrant.NewPointsClient(conn)
}

func TestFilters(t *testing.T) {
	s := NewServer(t)
	cols, pts := client(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cols.Create(ctx, &qdrant.CreateCollection{CollectionName: "c",
		VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Cosine})}); err != nil {
		t.Fatal(err)
	}
	if _, err := cols.Create(ctx, &qdrant.CreateCollection{CollectionName: "c",
		VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Cosine})}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("second create: %v", err)
	}
	point := func(n uint64, x, y float32, color string, size int64) *qdrant.PointStruct {
		return &qdrant.PointStruct{Id: qdrant.NewIDNum(n), Vectors: qdrant.NewVectorsDense([]float32{x, y}),
			Payload: map[string]*qdrant.Value{"color": qdrant.NewValueString(color), "size": qdrant.NewValueInt(size)}}
	}
	if _, err := pts.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "c", Points: []*qdrant.PointStruct{
		point(1, 1, 0, "red", 1), point(2, 1, 1, "blue", 5), point(3, 0, 1, "red", 10), point(4, -1, 0, "green", 7),
	}}); err != nil {
		t.Fatal(err)
	}
	count := func(f *qdrant.Filter) uint64 {
		t.Helper()
		r, err := pts.Count(ctx, &qdrant.CountPoints{CollectionName: "c", Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetResult().GetCount()
	}
	five, seven := 5.0, 7.0
	for name, c := range map[string]struct {
		f    *qdrant.Filter
		want uint64
	}{
		"all":      {nil, 4},
		"keyword":  {&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("color", "red")}}, 2},
		"keywords": {&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeywords("color", "red", "blue")}}, 3},
		"except":   {&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchExcept("color", "red")}}, 2},
		"integer":  {&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchInt("size", 5)}}, 1},
		"range":    {&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewRange("size", &qdrant.Range{Gt: &five, Lte: &seven})}}, 1},
		"must_not": {&qdrant.Filter{MustNot: []*qdrant.Condition{qdrant.NewMatchKeyword("color", "red")}}, 2},
		"should":   {&qdrant.Filter{Should: []*qdrant.Condition{qdrant.NewMatchInt("size", 1), qdrant.NewMatchInt("size", 10)}}, 2},
		"has_id":   {&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewHasID(qdrant.NewIDNum(2), qdrant.NewIDNum(4))}}, 2},
		"nested":   {&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewFilterAsCondition(&qdrant.Filter{MustNot: []*qdrant.Condition{qdrant.NewMatchKeyword("color", "green")}})}}, 3},
		"missing":  {&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("shape", "round")}}, 0},
	} {
		if got := count(c.f); got != c.want {
			t.Errorf("%s: %d, want %d", name, got, c.want)
		}
	}
	threshold := float32(0.5)
	res, err := pts.Search(ctx, &qdrant.SearchPoints{CollectionName: "c", Vector: []float32{2, 0}, Limit: 10,
		ScoreThreshold: &threshold, WithPayload: qdrant.NewWithPayloadInclude("color"),
		Filter: &qdrant.Filter{MustNot: []*qdrant.Condition{qdrant.NewMatchInt("size", 5)}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetResult()) != 1 || res.GetResult()[0].GetId().GetNum() != 1 || res.GetResult()[0].GetScore() < 0.999 ||
		len(res.GetResult()[0].GetPayload()) != 1 {
		t.Fatalf("search %v", res.GetResult())
	}
	if _, err := pts.Delete(ctx, &qdrant.DeletePoints{CollectionName: "c", Points: qdrant.NewPointsSelectorFilter(
		&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("color", "red")}})}); err != nil {
		t.Fatal(err)
	}
	if count(nil) != 2 || s.Points("c") != 2 {
		t.Fatalf("after delete: %d", count(nil))
	}
	if _, err := pts.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "c", Points: []*qdrant.PointStruct{point(9, 1, 2, "x", 0)}}); err != nil {
		t.Fatal(err)
	}
	bad := &qdrant.PointStruct{Id: qdrant.NewIDNum(10), Vectors: qdrant.NewVectorsDense([]float32{1, 2, 3})}
	if _, err := pts.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "c", Points: []*qdrant.PointStruct{bad}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("wrong dims: %v", err)
	}
	if _, err := pts.Count(ctx, &qdrant.CountPoints{CollectionName: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("missing collection: %v", err)
	}
	if _, err := pts.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "c", Points: []*qdrant.PointStruct{{Id: qdrant.NewIDUUID("not-a-uuid"), Vectors: qdrant.NewVectorsDense([]float32{1, 0})}}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad uuid: %v", err)
	}
	if s.Calls("Upsert") != 4 || s.Calls("Count") < 12 {
		t.Fatalf("calls: upsert %d count %d", s.Calls("Upsert"), s.Calls("Count"))
	}
	s.SetDelay(time.Second)
	short, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if _, err := pts.Count(short, &qdrant.CountPoints{CollectionName: "c"}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("delayed: %v", err)
	}
}
