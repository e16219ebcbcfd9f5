package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// adminResource is the admin API of one kind of resource whose entries come
// from the configuration file and from the API (store/resource): list and
// create on a path, get, merge-patch and delete on path/{param}. In is what
// a create takes, Out what every answer shows. A nil operation is not
// mounted, so a kind may serve it with a handler of its own.
type adminResource[In, Out any] struct {
	list   func() []Out
	create func(context.Context, In) (Out, error)
	get    func(string) (Out, error)
	update func(context.Context, string, json.RawMessage) (Out, error)
	remove func(context.Context, string) error
	// apiError maps the kind's errors to the API's.
	apiError func(error) error
}

// mountResource mounts res on path and on path/{param}.
func mountResource[In, Out any](r chi.Router, path, param string, res adminResource[In, Out]) {
	item := path + "/{" + param + "}"
	if res.list != nil {
		r.Get(path, handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			writeJSON(w, http.StatusOK, listBody[Out]{Data: res.list()})
			return nil
		}).ServeHTTP)
	}
	if res.create != nil {
		r.Post(path, handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			return decodeAndApply(w, r, http.StatusCreated, res.create, res.apiError)
		}).ServeHTTP)
	}
	r.Get(item, handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		v, err := res.get(pathParam(r, param))
		return res.write(w, http.StatusOK, v, err)
	}).ServeHTTP)
	r.Patch(item, handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		patch, err := readPatch(r)
		if err != nil {
			return err
		}
		v, err := res.update(r.Context(), pathParam(r, param), patch)
		return res.write(w, http.StatusOK, v, err)
	}).ServeHTTP)
	r.Delete(item, handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return noContent(w, res.remove(r.Context(), pathParam(r, param)), res.apiError)
	}).ServeHTTP)
}

// write answers an operation: v with status, or err as the API's error.
func (res adminResource[In, Out]) write(w http.ResponseWriter, status int, v Out, err error) error {
	if err != nil {
		return res.apiError(err)
	}
	writeJSON(w, status, v)
	return nil
}

// decodeAndApply decodes the request's JSON body, applies it and answers the
// result with status, or the error as apiError maps it.
func decodeAndApply[In, Out any](w http.ResponseWriter, r *http.Request, status int, apply func(context.Context, In) (Out, error), apiError func(error) error) error {
	var in In
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	out, err := apply(r.Context(), in)
	if err != nil {
		return apiError(err)
	}
	writeJSON(w, status, out)
	return nil
}

// noContent answers 204 No Content, or err as apiError maps it.
func noContent(w http.ResponseWriter, err error, apiError func(error) error) error {
	if err != nil {
		return apiError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listBody is a list answer of the admin API: {"data": [...]}.
type listBody[T any] struct {
	Data []T `json:"data"`
}

// readPatch reads a JSON merge patch body: it must be a JSON object.
func readPatch(r *http.Request) (json.RawMessage, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, decodeErr(err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, errBadRequest("invalid_json", "request body must be a JSON object (a merge patch): "+err.Error())
	}
	return b, nil
}
