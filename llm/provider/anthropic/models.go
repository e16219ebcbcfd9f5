package anthropic

import (
	"time"

	"github.com/junctionhq/junction/llm/internal/jsonenc"
)

// AppendModels appends one page of Anthropic's model list, as GET /v1/models
// returns it to a client that sends anthropic-version:
// {"data":[{"type":"model","id","display_name","created_at"}],"has_more","first_id","last_id"}.
func AppendModels(dst []byte, ids []string, created time.Time, hasMore bool) []byte {
	return jsonenc.AppendAnthropicModelList(dst, ids, created, hasMore)
}

// AppendModel appends one model object, as GET /v1/models/{id} returns it:
// {"type":"model","id","display_name","created_at"}.
func AppendModel(dst []byte, id string, created time.Time) []byte {
	return jsonenc.AppendAnthropicModel(dst, id, created)
}
