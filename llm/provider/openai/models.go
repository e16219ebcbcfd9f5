package openai

import (
	"strings"

	"github.com/junctionhq/junction/llm/internal/jsonenc"
	"github.com/junctionhq/junction/llm/internal/jsonscan"
)

// AppendModels appends the /v1/models list,
// {"object":"list","data":[{"id","object":"model","created","owned_by"}]}.
// owned_by is the provider part of a "provider/model" id, "junction" for
// an alias.
func AppendModels(dst []byte, ids []string, created int64) []byte {
	return jsonenc.AppendModelList(dst, ids, created, modelOwner)
}

// AppendModel appends one model object, as GET /v1/models/{id} returns it:
// {"id","object":"model","created","owned_by"}, owned_by as in AppendModels.
func AppendModel(dst []byte, id string, created int64) []byte {
	return AppendModelOwnedBy(dst, id, modelOwner(id), created)
}

// AppendModelOwnedBy appends one model object owned by owner: a bare
// model name a provider's model_patterns route is owned by that provider.
func AppendModelOwnedBy(dst []byte, id, owner string, created int64) []byte {
	return jsonenc.AppendModel(dst, id, created, owner)
}

// modelOwner is the provider part of a "provider/model" id, "junction" for
// an alias.
func modelOwner(id string) string {
	if p, _, ok := strings.Cut(id, "/"); ok && p != "" {
		return p
	}
	return "junction"
}

// decodeModels returns the ids of an upstream model list, {"data":[{"id"}]}.
func decodeModels(body []byte) ([]string, error) {
	start := jsonscan.SkipSpace(body, 0)
	it, err := jsonscan.IterObject(body, start, 0)
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for it.Next() {
		v := it.Value()
		if string(it.Key) != "data" || v[0] != '[' {
			continue
		}
		for _, mv := range jsonscan.Elements(v) {
			if mv[0] != '{' {
				continue
			}
			for key, fv := range jsonscan.Members(mv) {
				if string(key) == "id" {
					if id, ok := jsonscan.DecodeString(fv); ok && id != "" {
						ids = append(ids, id)
					}
				}
			}
		}
	}
	return ids, it.Err
}
