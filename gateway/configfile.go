package gateway

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ConfigError lists every problem found in a configuration, each naming the
// YAML path of the offending entry, so an operator fixes them in one pass.
type ConfigError struct {
	// File is the configuration file, or empty for built-in defaults.
	File     string
	Problems []string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	name := e.File
	if name == "" {
		name = "configuration"
	}
	fmt.Fprintf(&b, "%s: %d problem", name, len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p)
	}
	return b.String()
}

// decodeYAML decodes doc into out (a pointer to a struct), expanding
// environment references in every scalar first. Unlike yaml.Decoder it keeps
// going after an error, so the returned problems list every unknown key and
// every ill-typed value, each with its YAML path and line.
// The returned lines map each decoded path to its line, for locating
// problems found later by validation.
func decodeYAML(doc []byte, out any, lookup func(string) (string, bool)) (problems []string, lines map[string]int) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return []string{err.Error()}, nil
	}
	if root.Kind == 0 { // empty document
		return nil, nil
	}
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, nil
		}
		d := &decoder{lookup: lookup, lines: map[string]int{}}
		d.value(root.Content[0], reflect.ValueOf(out).Elem(), "")
		return d.problems, d.lines
	}
	return []string{"configuration: not a YAML document"}, nil
}

// lineOf returns the line of path, or of its nearest decoded parent.
func lineOf(lines map[string]int, path string) int {
	for p := path; p != ""; {
		if l, ok := lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

type decoder struct {
	lookup   func(string) (string, bool)
	problems []string
	lines    map[string]int // path → line of its value
	// visits counts decoded nodes; aliases can make a small document expand
	// enormously ("billion laughs"), so decoding stops past maxVisits.
	visits int
}

// maxVisits bounds the nodes decoded from one document, aliases expanded.
const maxVisits = 1_000_000

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	if path == "" {
		path = "(root)"
	}
	d.problems = append(d.problems, fmt.Sprintf("%s: %s (line %d)", path, fmt.Sprintf(format, args...), n.Line))
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// value decodes n into v, which must be settable.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	d.visits++
	if _, ok := d.lines[path]; !ok && path != "" {
		d.lines[path] = n.Line
	}
	if d.visits == maxVisits {
		d.fail(n, path, "document expands to too many nodes (aliases?)")
	}
	if d.visits >= maxVisits {
		return
	}
	for depth := 0; n.Kind == yaml.AliasNode && n.Alias != nil; depth++ {
		if depth > 100 {
			d.fail(n, path, "alias chain too deep")
			return
		}
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // an explicit null leaves the default in place
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path)
		return
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		d.leaf(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "expected a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "expected a mapping, got %s", kindName(n))
			return
		}
		if v.Type().Key().Kind() != reflect.String {
			d.fail(n, path, "unsupported map key type %s", v.Type().Key())
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key := d.expand(k, path)
			elem := reflect.New(v.Type().Elem()).Elem()
			d.value(val, elem, joinPath(path, key))
			m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), elem)
		}
		v.Set(m)
	default:
		d.leaf(n, v, path)
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	fields := yamlFields(v.Type())
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		name := k.Value
		p := joinPath(path, name)
		if seen[name] {
			d.fail(k, p, "duplicate key")
			continue
		}
		seen[name] = true
		idx, ok := fields[name]
		if !ok {
			d.fail(k, p, "unknown key%s", suggest(name, fields))
			continue
		}
		d.value(val, v.FieldByIndex(idx), p)
	}
}

// leaf decodes a scalar (or a type with its own UnmarshalYAML) after
// expanding environment references in it.
func (d *decoder) leaf(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode {
		expanded := *n
		expanded.Value = d.expand(n, path)
		if expanded.Value != n.Value && (n.Tag == "" || n.Tag == "!!str") {
			// Type the expansion by its text, as if it had been written
			// plain: "${PORT}" may fill an int. String fields still accept it.
			expanded.Tag, expanded.Style = "", 0
		}
		n = &expanded
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.fail(n, path, "%s", cleanYAMLError(err))
	}
}

// expand replaces ${VAR} and ${VAR:-default} in a scalar. $$ stands for a
// literal $. An unterminated reference is reported and left as is.
func (d *decoder) expand(n *yaml.Node, path string) string {
	s := n.Value
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			d.fail(n, path, "unterminated ${ in %q", s)
			return s
		}
		ref := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			d.fail(n, path, "invalid environment reference ${%s}", ref)
			return s
		}
		val, ok := d.lookup(name)
		if hasDef && (!ok || val == "") {
			val = def
		}
		b.WriteString(val)
		i += end
	}
	return b.String()
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// yamlFields maps YAML key names to struct field indexes.
func yamlFields(t reflect.Type) map[string][]int {
	fields := make(map[string][]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Index
	}
	return fields
}

// suggest names the known keys so a typo is quick to fix.
func suggest(name string, fields map[string][]int) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.EqualFold(k, name) || strings.ReplaceAll(k, "_", "") == strings.ReplaceAll(strings.ToLower(name), "-", "") {
			return fmt.Sprintf("; did you mean %q?", k)
		}
	}
	return "; known keys: " + strings.Join(keys, ", ")
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// cleanYAMLError drops go.yaml.in/yaml/v3's "yaml: unmarshal errors:\n  line N:" framing,
// which duplicates the path and line we report ourselves.
func cleanYAMLError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "line ") {
			msg = rest
		}
		return msg
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// readConfigFile reads path; a missing file named explicitly is an error.
func readConfigFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return b, nil
}
