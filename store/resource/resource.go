// Package resource is what the kinds of admin-managed resources share: MCP
// servers (registry), LLM providers (llm/providerstore), teams and virtual
// keys (policy).
//
// Each kind has entries of two sources. The configuration file's
// (store.SourceFile) are read-only through the admin API; the API's
// (store.SourceAPI) are store.Resource rows that every replica follows
// through the store's change feed. A [Kind] writes the API's entries —
// create, change, delete — refusing changes to the file's, words the
// store's errors in its package's terms, and reloads, so that a change is in
// force on this replica when the call returns. [Patch] applies the admin
// API's JSON merge patches. Reads stay with each package, which holds its
// entries in memory and tells a Kind how to find one.
package resource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/junctionhq/junction/store"
)

// Entry is one entry of a kind as this replica holds it.
type Entry[T any] struct {
	// ID and Name are the entry's store.Resource ID and Name.
	ID, Name string
	// Source is store.SourceFile or store.SourceAPI.
	Source string
	// Value is the entry as its package holds it.
	Value T
}

// Errors word a kind's failures in its package's terms.
type Errors struct {
	// NotFound is the error of an id or name that no entry has.
	NotFound func(idOrName string) error
	// Conflict is the error of an id or name another entry has.
	Conflict func(name string) error
	// ReadOnly is the error of an API change to an entry of the
	// configuration file.
	ReadOnly error
}

// QuotedErrors are the Errors that add the quoted name to notFound and
// conflict (`<notFound>: "name"`) and are readOnly.
func QuotedErrors(notFound, conflict, readOnly error) Errors {
	return Errors{
		NotFound: func(name string) error { return fmt.Errorf("%w: %q", notFound, name) },
		Conflict: func(name string) error { return fmt.Errorf("%w: %q", conflict, name) },
		ReadOnly: readOnly,
	}
}

// Store maps the store's not-found, conflict and read-only errors about the
// entry name to the kind's; other errors are returned as they are.
func (e Errors) Store(err error, name string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return e.NotFound(name)
	case errors.Is(err, store.ErrConflict):
		return e.Conflict(name)
	case errors.Is(err, store.ErrReadOnly):
		return e.ReadOnly
	}
	return err
}

// Kind writes the API-managed entries of one kind of resource. T is an
// entry as its package holds it in memory.
type Kind[T any] struct {
	// Store keeps the API's entries.
	Store *store.Store
	// Kind is their store.Resource kind.
	Kind string
	// Errors word the failures.
	Errors Errors
	// Find returns the entry with the id or name idOrName, the file's or
	// the API's, as this replica holds it now.
	Find func(idOrName string) (Entry[T], bool)
	// Reload reads the store and puts its entries in force on this replica.
	Reload func(context.Context) error
}

// Get returns the entry idOrName, or Errors.NotFound.
func (k *Kind[T]) Get(idOrName string) (Entry[T], error) {
	e, ok := k.Find(idOrName)
	if !ok {
		return Entry[T]{}, k.Errors.NotFound(idOrName)
	}
	return e, nil
}

// Create stores a new API entry whose spec is the store.Resource Spec,
// reloads, and returns the entry as this replica now holds it.
func (k *Kind[T]) Create(ctx context.Context, id, name string, spec json.RawMessage) (Entry[T], error) {
	row := store.Resource{Kind: k.Kind, ID: id, Name: name, Spec: spec, Source: store.SourceAPI}
	if _, err := k.Store.CreateResource(ctx, row); err != nil {
		return Entry[T]{}, k.Errors.Store(err, name)
	}
	return k.written(ctx, id)
}

// Update changes the API entry idOrName (its id and name stay): next
// returns the new spec from the entry as it is (or an error, returned as it
// is). Update reloads and returns the entry as this replica now holds it.
// An entry of the configuration file is Errors.ReadOnly.
func (k *Kind[T]) Update(ctx context.Context, idOrName string, next func(cur Entry[T]) (json.RawMessage, error)) (Entry[T], error) {
	cur, err := k.editable(idOrName)
	if err != nil {
		return Entry[T]{}, err
	}
	spec, err := next(cur)
	if err != nil {
		return Entry[T]{}, err
	}
	if _, err := k.Store.UpdateResource(ctx, store.Resource{Kind: k.Kind, ID: cur.ID, Name: cur.Name, Spec: spec}); err != nil {
		return Entry[T]{}, k.Errors.Store(err, cur.Name)
	}
	return k.written(ctx, cur.ID)
}

// Delete removes the API entry idOrName, after check (when not nil)
// allows it, and reloads. An entry of the configuration file is
// Errors.ReadOnly.
func (k *Kind[T]) Delete(ctx context.Context, idOrName string, check func(cur Entry[T]) error) error {
	cur, err := k.editable(idOrName)
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(cur); err != nil {
			return err
		}
	}
	if err := k.Store.DeleteResource(ctx, k.Kind, cur.ID); err != nil {
		return k.Errors.Store(err, cur.Name)
	}
	return k.Reload(ctx)
}

// editable returns the entry an API change to idOrName targets.
func (k *Kind[T]) editable(idOrName string) (Entry[T], error) {
	cur, err := k.Get(idOrName)
	if err != nil {
		return Entry[T]{}, err
	}
	if cur.Source == store.SourceFile {
		return Entry[T]{}, k.Errors.ReadOnly
	}
	return cur, nil
}

// written reloads after a write and returns the entry id.
func (k *Kind[T]) written(ctx context.Context, id string) (Entry[T], error) {
	if err := k.Reload(ctx); err != nil {
		return Entry[T]{}, err
	}
	e, ok := k.Find(id)
	if !ok {
		return Entry[T]{}, fmt.Errorf("%w was removed concurrently", k.Errors.NotFound(id))
	}
	return e, nil
}
