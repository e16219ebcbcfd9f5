package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/junctionhq/junction/llm/chat"
)

// maxBatch is the API's limit on requests per batchEmbedContents call.
const maxBatch = 100

type batchEmbedRequest struct {
	Requests []embedRequest `json:"requests"`
}

type embedRequest struct {
	Model                string  `json:"model"`
	Content              content `json:"content"`
	OutputDimensionality int     `json:"outputDimensionality,omitempty"`
}

type batchEmbedResponse struct {
	Embeddings []struct {
		Values []float32 `json:"values"`
	} `json:"embeddings"`
	UsageMetadata *struct {
		PromptTokenCount int64 `json:"promptTokenCount"`
	} `json:"usageMetadata"`
}

// Embed computes one vector per input with batchEmbedContents, in calls of
// at most 100 inputs. Dimensions becomes outputDimensionality. Gemini's
// embedding responses usually carry no token counts, so Usage is often zero.
func (p *Provider) Embed(ctx context.Context, t chat.Target, req *chat.EmbeddingRequest) (*chat.EmbeddingResponse, error) {
	if len(req.Input) == 0 {
		return nil, errors.New("gemini: embed: no input")
	}
	model := "models/" + strings.TrimPrefix(t.Model, "models/")
	out := &chat.EmbeddingResponse{Model: t.Model, Vectors: make([][]float32, 0, len(req.Input))}
	for start := 0; start < len(req.Input); start += maxBatch {
		inputs := req.Input[start:min(start+maxBatch, len(req.Input))]
		batch := batchEmbedRequest{Requests: make([]embedRequest, len(inputs))}
		for i, in := range inputs {
			batch.Requests[i] = embedRequest{Model: model, Content: content{Parts: []part{{Text: in}}},
				OutputDimensionality: req.Dimensions}
		}
		body, err := marshal(batch, "gemini: encode request")
		if err != nil {
			return nil, err
		}
		raw, h, err := p.fetch(ctx, http.MethodPost, p.modelURL(t.Model, "batchEmbedContents"), t, body)
		if err != nil {
			return nil, err
		}
		var r batchEmbedResponse
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, p.decodeError(raw, h, err)
		}
		if len(r.Embeddings) != len(inputs) {
			return nil, p.decodeError(raw, h,
				fmt.Errorf("%d embeddings for %d inputs", len(r.Embeddings), len(inputs)))
		}
		for _, e := range r.Embeddings {
			out.Vectors = append(out.Vectors, e.Values)
		}
		if r.UsageMetadata != nil {
			out.Usage.PromptTokens += r.UsageMetadata.PromptTokenCount
		}
	}
	return out, nil
}
