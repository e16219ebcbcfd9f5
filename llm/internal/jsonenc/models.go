package jsonenc

import (
	"strconv"
	"time"
)

// AppendModelList appends an OpenAI-style model list,
// {"object":"list","data":[{"id","object":"model","created","owned_by"}]},
// with owner(id) as each model's owned_by. The gateway's /v1/models and the
// mock provider's both write it.
func AppendModelList(dst []byte, ids []string, created int64, owner func(id string) string) []byte {
	dst = append(dst, `{"object":"list","data":[`...)
	for i, id := range ids {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendModel(dst, id, created, owner(id))
	}
	return append(dst, "]}"...)
}

// AppendModel appends one OpenAI-style model object,
// {"id","object":"model","created","owned_by"}.
func AppendModel(dst []byte, id string, created int64, owner string) []byte {
	dst = append(dst, `{"id":`...)
	dst = AppendString(dst, id)
	dst = append(dst, `,"object":"model","created":`...)
	dst = strconv.AppendInt(dst, created, 10)
	dst = append(dst, `,"owned_by":`...)
	dst = AppendString(dst, owner)
	return append(dst, '}')
}

// AppendAnthropicModelList appends an Anthropic-style page of models,
// {"data":[{"type":"model","id","display_name","created_at"}],"has_more","first_id","last_id"},
// first_id and last_id null when ids is empty. The gateway's /v1/models and
// the mock provider's both write it.
func AppendAnthropicModelList(dst []byte, ids []string, created time.Time, hasMore bool) []byte {
	dst = append(dst, `{"data":[`...)
	for i, id := range ids {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendAnthropicModel(dst, id, created)
	}
	dst = append(dst, `],"has_more":`...)
	dst = strconv.AppendBool(dst, hasMore)
	dst = append(dst, `,"first_id":`...)
	if len(ids) == 0 {
		return append(dst, `null,"last_id":null}`...)
	}
	dst = AppendString(dst, ids[0])
	dst = append(dst, `,"last_id":`...)
	dst = AppendString(dst, ids[len(ids)-1])
	return append(dst, '}')
}

// AppendAnthropicModel appends one Anthropic-style model object,
// {"type":"model","id","display_name","created_at"}; the display name is the
// id, created_at is RFC 3339 in UTC.
func AppendAnthropicModel(dst []byte, id string, created time.Time) []byte {
	dst = append(dst, `{"type":"model","id":`...)
	dst = AppendString(dst, id)
	dst = append(dst, `,"display_name":`...)
	dst = AppendString(dst, id)
	dst = append(dst, `,"created_at":"`...)
	dst = created.UTC().AppendFormat(dst, time.RFC3339)
	return append(dst, `"}`...)
}
