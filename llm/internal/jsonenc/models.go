package jsonenc

import "strconv"

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
		dst = append(dst, `{"id":`...)
		dst = AppendString(dst, id)
		dst = append(dst, `,"object":"model","created":`...)
		dst = strconv.AppendInt(dst, created, 10)
		dst = append(dst, `,"owned_by":`...)
		dst = AppendString(dst, owner(id))
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}
