package gemini

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("compact %q: %v", s, err)
	}
	return b.String()
}

func TestCleanSchema(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "types and dropped keywords",
			in: `{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"x","type":"object","additionalProperties":false,
				"properties":{"city":{"type":"string","description":"City name","minLength":1,"readOnly":true},
				"days":{"type":"integer","minimum":1,"maximum":10,"exclusiveMaximum":11,"multipleOf":1},
				"tags":{"type":"array","items":{"type":"string"},"uniqueItems":true,"maxItems":5}},
				"required":["city","missing","city"],"patternProperties":{"^x":{}}}`,
			want: `{"properties":{"city":{"description":"City name","minLength":1,"type":"STRING"},
				"days":{"maximum":10,"minimum":1,"type":"INTEGER"},
				"tags":{"items":{"type":"STRING"},"maxItems":5,"type":"ARRAY"}},
				"required":["city"],"type":"OBJECT"}`,
		},
		{
			name: "nullable type list",
			in:   `{"type":["string","null"],"description":"d"}`,
			want: `{"description":"d","nullable":true,"type":"STRING"}`,
		},
		{
			name: "several types",
			in:   `{"type":["string","integer"]}`,
			want: `{"anyOf":[{"type":"STRING"},{"type":"INTEGER"}]}`,
		},
		{
			name: "optional via anyOf null (pydantic)",
			in:   `{"anyOf":[{"type":"string","format":"uri"},{"type":"null"}],"default":null,"title":"Url"}`,
			want: `{"default":null,"nullable":true,"title":"Url","type":"STRING"}`,
		},
		{
			name: "oneOf becomes anyOf",
			in:   `{"oneOf":[{"type":"string"},{"type":"number","format":"double"}]}`,
			want: `{"anyOf":[{"type":"STRING"},{"format":"double","type":"NUMBER"}]}`,
		},
		{
			name: "const and enums",
			in: `{"type":"object","properties":{"kind":{"const":"a"},"level":{"type":"integer","enum":[1,2,3],"description":"Level."},
				"mode":{"enum":["x","y"]},"when":{"type":"string","format":"date-time"},"mail":{"type":"string","format":"email"}}}`,
			want: `{"properties":{"kind":{"enum":["a"],"type":"STRING"},"level":{"description":"Level. Allowed values: 1, 2, 3.","type":"INTEGER"},
				"mail":{"type":"STRING"},"mode":{"enum":["x","y"],"type":"STRING"},"when":{"format":"date-time","type":"STRING"}},"type":"OBJECT"}`,
		},
		{
			name: "refs inlined, referrer's keywords win",
			in: `{"type":"object","$defs":{"Point":{"type":"object","description":"A point","properties":{"x":{"type":"number"}},"required":["x"]}},
				"properties":{"a":{"$ref":"#/$defs/Point"},"b":{"$ref":"#/$defs/Point","description":"Second"}},
				"definitions":{"Unused":{"type":"string"}}}`,
			want: `{"properties":{"a":{"description":"A point","properties":{"x":{"type":"NUMBER"}},"required":["x"],"type":"OBJECT"},
				"b":{"description":"Second","properties":{"x":{"type":"NUMBER"}},"required":["x"],"type":"OBJECT"}},"type":"OBJECT"}`,
		},
		{
			name: "recursive and unknown refs",
			in: `{"definitions":{"Node":{"type":"object","properties":{"value":{"type":"string"},"next":{"$ref":"#/definitions/Node","description":"Next node"}}}},
				"$ref":"#/definitions/Node","properties":{"remote":{"$ref":"https://example.com/s.json","title":"Remote"}}}`,
			want: `{"properties":{"next":{"description":"Next node","type":"OBJECT"},"remote":{"title":"Remote"},"value":{"type":"STRING"}},"type":"OBJECT"}`,
		},
		{
			name: "allOf merged",
			in: `{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},
				{"properties":{"b":{"type":"boolean"}},"required":["b"],"description":"merged"}]}`,
			want: `{"description":"merged","properties":{"a":{"type":"STRING"},"b":{"type":"BOOLEAN"}},"required":["a","b"],"type":"OBJECT"}`,
		},
		{
			name: "inferred types, tuple items, examples, boolean schemas",
			in: `{"properties":{"list":{"items":[{"type":"string"},{"type":"integer"}]},"pair":{"prefixItems":[{"type":"string"}]},
				"any":true,"never":false,"ex":{"type":"string","examples":["e1","e2"]}},"propertyOrdering":["list","nope","ex"]}`,
			want: `{"properties":{"any":{},"ex":{"example":"e1","type":"STRING"},"list":{"items":{"anyOf":[{"type":"STRING"},{"type":"INTEGER"}]},"type":"ARRAY"},"pair":{}},
				"propertyOrdering":["list","ex"],"type":"OBJECT"}`,
		},
		{
			name: "html characters kept as is",
			in:   `{"type":"string","description":"a < b && c > d"}`,
			want: `{"description":"a < b && c > d","type":"STRING"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cleanSchema(json.RawMessage(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if want := compact(t, tt.want); string(got) != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestCleanSchemaErrors(t *testing.T) {
	for _, in := range []string{``, `[]`, `"string"`, `{"type":`, `{} {}`} {
		if _, err := cleanSchema(json.RawMessage(in)); err == nil {
			t.Errorf("cleanSchema(%q): no error", in)
		}
	}
}

func TestCleanSchemaBounded(t *testing.T) {
	// Each definition refers to the next one twice: naive inlining would build
	// 2^40 nodes.
	var b strings.Builder
	b.WriteString(`{"type":"object","properties":{"p":{"$ref":"#/$defs/D0"}},"$defs":{`)
	for i := range 40 {
		if i > 0 {
			b.WriteByte(',')
		}
		next := `{"type":"string"}`
		if i < 39 {
			next = `{"$ref":"#/$defs/D` + itoa(i+1) + `"}`
		}
		b.WriteString(`"D` + itoa(i) + `":{"type":"object","properties":{"l":` + next + `,"r":` + next + `}}`)
	}
	b.WriteString(`}}`)
	got, err := cleanSchema(json.RawMessage(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) > 4<<20 {
		t.Errorf("cleaned schema is %d bytes", len(got))
	}
	if !json.Valid(got) {
		t.Error("invalid JSON")
	}
}

func itoa(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }

func TestCleanParameters(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"absent", ``, ``},
		{"null", `null`, ``},
		{"no properties", `{"type":"object","properties":{},"additionalProperties":false}`, ``},
		{"no type", `{"properties":{"a":{"type":"string"}}}`, `{"properties":{"a":{"type":"STRING"}},"type":"OBJECT"}`},
		{"nullable root", `{"type":["object","null"],"properties":{"a":{"type":"string"}}}`, `{"properties":{"a":{"type":"STRING"}},"type":"OBJECT"}`},
	}
	for _, tt := range tests {
		got, err := cleanParameters(json.RawMessage(tt.in))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if string(got) != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

// FuzzCleanSchema checks that any JSON object cleans to valid JSON made only
// of the keywords Gemini accepts.
func FuzzCleanSchema(f *testing.F) {
	for _, s := range []string{
		`{"type":"object","properties":{"a":{"$ref":"#/$defs/A"}},"$defs":{"A":{"allOf":[{"$ref":"#/$defs/A"}]}}}`,
		`{"anyOf":[{"type":"null"},{"type":["string","null"]}],"enum":[1,"a",null]}`,
		`{"items":[true,{"items":{}}],"properties":{"x":false}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := cleanSchema(json.RawMessage(in))
		if err != nil {
			return
		}
		var v any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("invalid output %s: %v", out, err)
		}
		checkKeys(t, v, out)
	})
}

// checkKeys fails on a keyword Gemini does not accept anywhere in schema v.
func checkKeys(t *testing.T, v any, out []byte) {
	t.Helper()
	s, ok := v.(map[string]any)
	if !ok {
		return
	}
	for k, sub := range s {
		if !schemaKeys[k] {
			t.Fatalf("keyword %q in %s", k, out)
		}
		switch k {
		case "properties":
			for _, p := range sub.(map[string]any) {
				checkKeys(t, p, out)
			}
		case "items":
			checkKeys(t, sub, out)
		case "anyOf":
			for _, a := range sub.([]any) {
				checkKeys(t, a, out)
			}
		}
	}
}
