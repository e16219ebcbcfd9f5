package upstream

import (
	"io"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
)

func TestRecvSkipsEmptyStepsAndKeepsTheError(t *testing.T) {
	t.Parallel()
	steps := []func() (*chat.Chunk, error){
		func() (*chat.Chunk, error) { return nil, nil },
		func() (*chat.Chunk, error) { return &chat.Chunk{Content: "a"}, nil },
		func() (*chat.Chunk, error) { return nil, io.EOF },
	}
	var sticky error
	next := func() (*chat.Chunk, error) { step := steps[0]; steps = steps[1:]; return step() }
	if c, err := Recv(&sticky, next); err != nil || c.Content != "a" {
		t.Fatalf("first Recv = %+v, %v", c, err)
	}
	for range 2 {
		if c, err := Recv(&sticky, next); c != nil || err != io.EOF {
			t.Fatalf("Recv = %+v, %v, want io.EOF", c, err)
		}
	}
}
