package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Gemini's function parameters and response schemas are not JSON Schema but
// the OpenAPI 3.0 subset of its Schema message: a request carrying anything
// else ($schema, additionalProperties, $ref, const, a type list, a "uri"
// format, ...) is rejected with 400 INVALID_ARGUMENT. cleanSchema rewrites a
// JSON Schema into that subset, keeping as much meaning as it can.

// schemaKeys are the Schema fields Gemini accepts; every other keyword is
// dropped.
var schemaKeys = map[string]bool{
	"type": true, "format": true, "title": true, "description": true, "nullable": true,
	"enum": true, "maxItems": true, "minItems": true, "properties": true, "required": true,
	"minProperties": true, "maxProperties": true, "minLength": true, "maxLength": true,
	"pattern": true, "example": true, "anyOf": true, "propertyOrdering": true,
	"default": true, "items": true, "minimum": true, "maximum": true,
}

// schemaTypes maps JSON Schema types to Gemini's Type enum.
var schemaTypes = map[string]string{
	"string": "STRING", "number": "NUMBER", "integer": "INTEGER",
	"boolean": "BOOLEAN", "array": "ARRAY", "object": "OBJECT",
}

// schemaFormats are the formats Gemini accepts, per type.
var schemaFormats = map[string]map[string]bool{
	"STRING":  {"enum": true, "date-time": true},
	"NUMBER":  {"float": true, "double": true},
	"INTEGER": {"int32": true, "int64": true},
}

// maxSchemaDepth bounds nesting (and $ref expansion); deeper schemas are cut
// to an untyped schema.
const maxSchemaDepth = 32

// cleanSchema rewrites the JSON Schema raw into Gemini's Schema subset:
//
//   - types become Gemini's upper-case names; a type list ["string","null"]
//     becomes the type with nullable: true, several non-null types an anyOf; a
//     missing type is inferred from properties (OBJECT), items (ARRAY) or a string
//     enum (STRING);
//   - local $ref ("#/$defs/X", "#/definitions/X") are inlined, the referring
//     schema's own keywords (description) winning and its properties combined
//     with the target's; a recursive reference, an
//     unresolvable one and anything nested deeper than 32 levels become an
//     OBJECT (or untyped) schema with no further structure;
//   - allOf members are merged into one schema (properties and required
//     combined); oneOf becomes anyOf; {"type":"null"} members of an anyOf become
//     nullable: true, and an anyOf left with one member is merged into its parent;
//   - const becomes a one-value enum; enums other than of strings are dropped,
//     their values appended to the description; examples becomes example (the
//     first one); formats Gemini does not accept for the type are dropped;
//   - required is filtered to the declared properties; every other keyword
//     ($schema, $id, additionalProperties, patternProperties, not, if/then/else,
//     exclusiveMinimum, multipleOf, uniqueItems, readOnly, ...) is dropped.
//
// Objects are written with sorted keys. raw must be a JSON object.
func cleanSchema(raw json.RawMessage) (json.RawMessage, error) {
	root, err := decodeSchema(raw)
	if err != nil {
		return nil, err
	}
	c := schemaCleaner{defs: make(map[string]any)}
	for _, key := range []string{"definitions", "$defs"} {
		if defs, ok := root[key].(map[string]any); ok {
			for name, d := range defs {
				c.defs["#/"+key+"/"+name] = d
			}
		}
	}
	return encodeSchema(c.clean(root, 0))
}

// cleanParameters cleans a function's parameters schema as cleanSchema does
// and makes its root an OBJECT, as Gemini requires. It returns nil (no
// parameters) when the schema is absent or declares no properties: Gemini
// rejects an OBJECT with empty properties.
func cleanParameters(raw json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	cleaned, err := cleanSchema(raw)
	if err != nil {
		return nil, err
	}
	root, err := decodeSchema(cleaned)
	if err != nil {
		return nil, err
	}
	props, _ := root["properties"].(map[string]any)
	if len(props) == 0 {
		return nil, nil
	}
	root["type"] = "OBJECT"
	delete(root, "anyOf")
	delete(root, "nullable")
	return encodeSchema(root)
}

func decodeSchema(raw json.RawMessage) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON Schema: %w", err)
	}
	if dec.More() {
		return nil, errors.New("invalid JSON Schema: data after the schema")
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("invalid JSON Schema: not an object")
	}
	return root, nil
}

func encodeSchema(v map[string]any) (json.RawMessage, error) {
	return marshal(v, "encode schema")
}

// maxSchemaNodes bounds the schemas one clean produces, so that definitions
// referring to each other many times cannot blow up the request.
const maxSchemaNodes = 10000

// schemaCleaner holds the definitions references resolve to, the references
// being expanded (to stop recursion) and the node budget.
type schemaCleaner struct {
	defs      map[string]any
	expanding []string
	nodes     int
}

// clean returns the cleaned copy of schema s.
func (c *schemaCleaner) clean(s map[string]any, depth int) map[string]any {
	c.nodes++
	if depth > maxSchemaDepth || c.nodes > maxSchemaNodes {
		return map[string]any{}
	}
	s, pushed, stub := c.resolve(s, 0)
	// The references inlined into s stay on the stack while its children are
	// cleaned: a child referring to one of them is recursive.
	defer func() { c.expanding = c.expanding[:len(c.expanding)-pushed] }()
	if stub != nil {
		return stub
	}
	out := make(map[string]any, len(s))
	for k, v := range s {
		if schemaKeys[k] {
			out[k] = v
		}
	}
	if v, ok := s["const"]; ok {
		out["enum"] = []any{v}
	}
	if ex, ok := s["examples"].([]any); ok && len(ex) > 0 {
		if _, has := out["example"]; !has {
			out["example"] = ex[0]
		}
	}
	if alts, ok := s["oneOf"].([]any); ok {
		if _, has := out["anyOf"]; !has {
			out["anyOf"] = alts
		}
	}

	c.cleanType(out)
	if props, ok := out["properties"].(map[string]any); ok {
		cleaned := make(map[string]any, len(props))
		for name, p := range props {
			switch ps := p.(type) {
			case map[string]any:
				cleaned[name] = c.clean(ps, depth+1)
			case bool: // true: anything; false: nothing, so no such property
				if ps {
					cleaned[name] = map[string]any{}
				}
			}
		}
		out["properties"] = cleaned
	} else {
		delete(out, "properties")
	}
	switch items := out["items"].(type) {
	case map[string]any:
		out["items"] = c.clean(items, depth+1)
	case []any: // the tuple form: any of the item schemas
		switch alts := c.cleanList(items, depth+1); len(alts) {
		case 0:
			delete(out, "items")
		case 1:
			out["items"] = alts[0]
		default:
			out["items"] = map[string]any{"anyOf": alts}
		}
	default:
		delete(out, "items")
	}
	if alts, ok := out["anyOf"].([]any); ok {
		c.cleanAnyOf(out, alts, depth)
	} else {
		delete(out, "anyOf")
	}
	cleanEnum(out)
	inferType(out)
	cleanFormat(out)
	cleanRequired(out)
	cleanOrdering(out)
	return out
}

// resolve inlines s's local $ref (repeatedly, for a reference to a
// reference) and merges its allOf members into it. pushed counts the
// references it put on the expanding stack, for the caller to pop. stub is
// the whole answer for a reference that cannot be inlined: an OBJECT for a
// recursive one, an untyped schema for an unknown one, with the referring
// schema's title and description.
func (c *schemaCleaner) resolve(s map[string]any, depth int) (_ map[string]any, pushed int, stub map[string]any) {
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			break
		}
		target, known := c.defs[ref].(map[string]any)
		recursive := containsString(c.expanding, ref)
		if !known || recursive || depth > maxSchemaDepth {
			stub = make(map[string]any, 3)
			if known {
				stub["type"] = "OBJECT"
			}
			copyStrings(stub, s, "title", "description")
			return s, pushed, stub
		}
		c.expanding = append(c.expanding, ref)
		pushed++
		depth++
		// Keywords beside a $ref apply too: the referring schema's win, its
		// properties and required are combined with the target's.
		merged := make(map[string]any, len(target)+len(s))
		for k, v := range s {
			if k != "$ref" {
				merged[k] = v
			}
		}
		mergeSchema(merged, target)
		s = merged
	}
	all, ok := s["allOf"].([]any)
	if !ok {
		return s, pushed, nil
	}
	merged := make(map[string]any, len(s))
	for k, v := range s {
		if k != "allOf" {
			merged[k] = v
		}
	}
	for _, m := range all {
		sub, ok := m.(map[string]any)
		if !ok {
			continue
		}
		sub, n, subStub := c.resolve(sub, depth+1)
		pushed += n
		if subStub != nil {
			continue // a recursive or unknown member adds nothing it can say
		}
		mergeSchema(merged, sub)
	}
	return merged, pushed, nil
}

// mergeSchema merges sub into dst: properties and required are combined,
// other keywords are taken from sub when dst lacks them.
func mergeSchema(dst, sub map[string]any) {
	for k, v := range sub {
		switch k {
		case "properties":
			props, _ := dst["properties"].(map[string]any)
			merged := make(map[string]any, len(props))
			for name, p := range props {
				merged[name] = p
			}
			if subProps, ok := v.(map[string]any); ok {
				for name, p := range subProps {
					if _, has := merged[name]; !has {
						merged[name] = p
					}
				}
			}
			dst["properties"] = merged
		case "required":
			req, _ := dst["required"].([]any)
			if subReq, ok := v.([]any); ok {
				dst["required"] = append(append([]any(nil), req...), subReq...)
			}
		default:
			if _, has := dst[k]; !has {
				dst[k] = v
			}
		}
	}
}

// cleanType maps type to Gemini's enum: a list becomes one type plus
// nullable, or an anyOf of the types.
func (c *schemaCleaner) cleanType(out map[string]any) {
	switch t := out["type"].(type) {
	case string:
		if t == "null" {
			delete(out, "type")
			out["nullable"] = true
			return
		}
		if g, ok := schemaTypes[strings.ToLower(t)]; ok {
			out["type"] = g
			return
		}
		delete(out, "type")
	case []any:
		delete(out, "type")
		var types []string
		for _, v := range t {
			s, _ := v.(string)
			switch g, ok := schemaTypes[strings.ToLower(s)]; {
			case s == "null":
				out["nullable"] = true
			case ok && !containsString(types, g):
				types = append(types, g)
			}
		}
		switch {
		case len(types) == 1:
			out["type"] = types[0]
		case len(types) > 1:
			if _, has := out["anyOf"]; !has {
				alts := make([]any, len(types))
				for i, g := range types {
					alts[i] = map[string]any{"type": g}
				}
				out["anyOf"] = alts
			}
		}
	default:
		delete(out, "type")
	}
}

// cleanList cleans the schemas of a list, skipping non-objects.
func (c *schemaCleaner) cleanList(list []any, depth int) []any {
	out := make([]any, 0, len(list))
	for _, v := range list {
		if s, ok := v.(map[string]any); ok {
			out = append(out, c.clean(s, depth))
		}
	}
	return out
}

// cleanAnyOf cleans the alternatives; null ones become nullable, and a single
// remaining one is merged into out.
func (c *schemaCleaner) cleanAnyOf(out map[string]any, alts []any, depth int) {
	delete(out, "anyOf")
	var kept []any
	for _, a := range c.cleanList(alts, depth+1) {
		s := a.(map[string]any)
		if isNullSchema(s) {
			out["nullable"] = true
			continue
		}
		kept = append(kept, s)
	}
	switch len(kept) {
	case 0:
	case 1:
		for k, v := range kept[0].(map[string]any) {
			if _, has := out[k]; !has {
				out[k] = v
			}
		}
	default:
		out["anyOf"] = kept
	}
}

// isNullSchema reports a cleaned {"type":"null"} (now {"nullable": true}).
func isNullSchema(s map[string]any) bool {
	if len(s) == 0 {
		return false
	}
	for k := range s {
		if k != "nullable" && k != "description" && k != "title" {
			return false
		}
	}
	return s["nullable"] == true
}

// cleanEnum keeps string enums; others are dropped and listed in the
// description, which is all Gemini can be told about them.
func cleanEnum(out map[string]any) {
	values, ok := out["enum"].([]any)
	if !ok {
		delete(out, "enum")
		return
	}
	allStrings := len(values) > 0
	for _, v := range values {
		if _, ok := v.(string); !ok {
			allStrings = false
		}
	}
	if allStrings && (out["type"] == nil || out["type"] == "STRING") {
		out["type"] = "STRING"
		return
	}
	delete(out, "enum")
	if len(values) == 0 {
		return
	}
	texts := make([]string, len(values))
	for i, v := range values {
		b, _ := json.Marshal(v) // decoded JSON always marshals
		texts[i] = string(b)
	}
	note := "Allowed values: " + strings.Join(texts, ", ") + "."
	if d, _ := out["description"].(string); d != "" {
		note = d + " " + note
	}
	out["description"] = note
}

// inferType sets the type a schema without one evidently has.
func inferType(out map[string]any) {
	if _, has := out["type"]; has {
		return
	}
	if _, has := out["anyOf"]; has {
		return
	}
	switch {
	case out["properties"] != nil:
		out["type"] = "OBJECT"
	case out["items"] != nil:
		out["type"] = "ARRAY"
	}
}

// cleanFormat drops formats Gemini does not accept for the type.
func cleanFormat(out map[string]any) {
	f, ok := out["format"].(string)
	if !ok {
		delete(out, "format")
		return
	}
	t, _ := out["type"].(string)
	if !schemaFormats[t][f] {
		delete(out, "format")
	}
}

// cleanRequired keeps the required names that are declared properties, in
// order, without duplicates.
func cleanRequired(out map[string]any) {
	req, _ := out["required"].([]any)
	props, _ := out["properties"].(map[string]any)
	var kept []any
	var seen []string
	for _, r := range req {
		name, ok := r.(string)
		if _, declared := props[name]; ok && declared && !containsString(seen, name) {
			kept = append(kept, name)
			seen = append(seen, name)
		}
	}
	if len(kept) == 0 {
		delete(out, "required")
		return
	}
	out["required"] = kept
}

// cleanOrdering keeps the propertyOrdering names that are declared
// properties.
func cleanOrdering(out map[string]any) {
	order, _ := out["propertyOrdering"].([]any)
	props, _ := out["properties"].(map[string]any)
	var kept []any
	for _, o := range order {
		if name, ok := o.(string); ok {
			if _, declared := props[name]; declared {
				kept = append(kept, name)
			}
		}
	}
	if len(kept) == 0 {
		delete(out, "propertyOrdering")
		return
	}
	out["propertyOrdering"] = kept
}

func copyStrings(dst, src map[string]any, keys ...string) {
	for _, k := range keys {
		if s, ok := src[k].(string); ok {
			dst[k] = s
		}
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
