package resource

import (
	"encoding/json"
	"errors"
)

// ErrPatchNotObject is returned by MergePatch for a patch that is not a JSON
// object.
var ErrPatchNotObject = errors.New("not a JSON object")

// MergePatch applies the JSON merge patch (RFC 7396) patch to the JSON
// document doc and returns the merged document: members of patch replace
// those of doc, objects merge recursively, and null removes a member. The
// admin API edits resource specs this way (see Patch).
func MergePatch(doc, patch []byte) ([]byte, error) {
	var p any
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, err
	}
	if _, ok := p.(map[string]any); !ok {
		return nil, ErrPatchNotObject
	}
	var d any
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	return json.Marshal(mergeValue(d, p))
}

func mergeValue(cur, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	cm, ok := cur.(map[string]any)
	if !ok {
		cm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(cm, k)
			continue
		}
		cm[k] = mergeValue(cm[k], v)
	}
	return cm
}
