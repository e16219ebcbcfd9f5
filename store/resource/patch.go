package resource

import (
	"bytes"
	"encoding/json"
)

// Patch applies the JSON merge patch (RFC 7396) patch to the JSON form of
// cur and decodes the result into a T, refusing fields T does not have. A
// patch that does not apply is the error invalid makes of the problem; an
// error encoding cur is returned as it is.
func Patch[T any](cur any, patch json.RawMessage, invalid func(problem string) error) (T, error) {
	return merge[T](cur, patch, invalid, "patch must be a JSON object: ")
}

// PatchFields is Patch for kinds whose patches may not name the fields in
// fixed at all, even with their current values. The patch is read as a JSON
// object first; a problem found after that is worded "patch: ...".
func PatchFields[T any](cur any, patch json.RawMessage, invalid func(problem string) error, fixed ...string) (T, error) {
	var zero T
	var p map[string]json.RawMessage
	if err := json.Unmarshal(patch, &p); err != nil {
		return zero, invalid("patch must be a JSON object: " + err.Error())
	}
	for _, f := range fixed {
		if _, ok := p[f]; ok {
			return zero, invalid(f + " cannot be changed")
		}
	}
	return merge[T](cur, patch, invalid, "patch: ")
}

// merge is Patch, wording a patch that does not merge with mergeProblem.
func merge[T any](cur any, patch json.RawMessage, invalid func(problem string) error, mergeProblem string) (T, error) {
	var next T
	b, err := json.Marshal(cur)
	if err != nil {
		return next, err
	}
	merged, err := MergePatch(b, patch)
	if err != nil {
		return next, invalid(mergeProblem + err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&next); err != nil {
		var zero T
		return zero, invalid("patch: " + err.Error())
	}
	return next, nil
}
