package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/junctionhq/junction/internal/glob"
)

// Rule is one access policy line: Subject may (allow) or may not (deny) do
// Action on Object in Domain. Deny wins over any allow.
//
//   - Subject: key:<name>, role:<name> or team:<name>. A key holds its roles
//     and its team in its team's domain and inherits their grants.
//   - Domain: a team name, or * for every team.
//   - Object: model:<provider>/<model>, model:<alias>, server:<name> or
//     tool:<server>/<tool>; * matches any run of characters (slashes too).
//   - Action: use (models), list (catalog entries), call (tools), or *.
type Rule struct {
	Subject string `json:"subject"`
	Domain  string `json:"domain"`
	Object  string `json:"object"`
	Action  string `json:"action"`
	Effect  string `json:"effect"`
	// Source is "file" for rules from the configuration file, else "api".
	Source string `json:"source,omitempty"`
}

// The effects of a rule.
const (
	EffectAllow = "allow"
	EffectDeny  = "deny"
)

// The actions rules grant.
const (
	ActionUse  = "use"
	ActionList = "list"
	ActionCall = "call"
)

// Line is the rule as the five-element list the configuration file uses.
func (r Rule) Line() []string { return []string{r.Subject, r.Domain, r.Object, r.Action, r.Effect} }

// UnmarshalJSON accepts the object form and the list form
// ["role:reader", "*", "tool:files/read_*", "call", "allow"] (effect optional).
func (r *Rule) UnmarshalJSON(b []byte) error {
	if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "[") {
		var line []string
		if err := json.Unmarshal(b, &line); err != nil {
			return fmt.Errorf("policy line must be a list of strings: %v", err)
		}
		parsed, err := RuleFromLine(line)
		if err != nil {
			return err
		}
		*r = parsed
		return nil
	}
	type plain Rule
	var p plain
	// Unknown fields are refused: a misspelt "efect": "deny" must not
	// silently store an allow rule. (A decoder's DisallowUnknownFields
	// does not reach into a custom UnmarshalJSON.)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*r = Rule(p)
	if r.Effect == "" {
		r.Effect = EffectAllow
	}
	return nil
}

// RuleFromLine parses [subject, domain, object, action, effect]; the effect
// may be left out and defaults to allow.
func RuleFromLine(line []string) (Rule, error) {
	switch len(line) {
	case 4:
		return Rule{Subject: line[0], Domain: line[1], Object: line[2], Action: line[3], Effect: EffectAllow}, nil
	case 5:
		return Rule{Subject: line[0], Domain: line[1], Object: line[2], Action: line[3], Effect: line[4]}, nil
	}
	return Rule{}, fmt.Errorf("a policy line has 4 or 5 fields [subject, domain, object, action, effect], got %d", len(line))
}

// Validate reports every problem with r under path.
func (r Rule) Validate(path string) []error {
	var errs []error
	kind, name, ok := strings.Cut(r.Subject, ":")
	switch {
	case !ok || (kind != "key" && kind != "role" && kind != "team"):
		errs = append(errs, fmt.Errorf("%s.subject: %q must be key:<name>, role:<name> or team:<name>", path, r.Subject))
	default:
		if err := checkName(path+".subject", name); err != nil {
			errs = append(errs, err)
		}
	}
	if r.Domain != "*" {
		if err := checkName(path+".domain", r.Domain); err != nil {
			errs = append(errs, fmt.Errorf("%w (or * for every team)", err))
		}
	}
	if r.Object != "*" {
		kind, rest, ok := strings.Cut(r.Object, ":")
		if !ok || rest == "" || (kind != "model" && kind != "server" && kind != "tool") {
			errs = append(errs, fmt.Errorf("%s.object: %q must be model:<name>, server:<name>, tool:<server>/<tool> or *", path, r.Object))
		}
	}
	if strings.ContainsAny(r.Object, ",\"\n") {
		errs = append(errs, fmt.Errorf("%s.object: must not contain commas, quotes or newlines", path))
	}
	switch r.Action {
	case ActionUse, ActionList, ActionCall, "*":
	default:
		errs = append(errs, fmt.Errorf("%s.action: %q is not one of use, list, call, *", path, r.Action))
	}
	switch r.Effect {
	case EffectAllow, EffectDeny:
	default:
		errs = append(errs, fmt.Errorf("%s.effect: %q is not allow or deny", path, r.Effect))
	}
	return errs
}

// PolicyLine is a rule in the configuration file: a YAML list of 4 or 5 strings.
type PolicyLine []string

// Rule parses the line.
func (l PolicyLine) Rule() (Rule, error) { return RuleFromLine(l) }

// Validate reports problems with the line under path.
func (l PolicyLine) Validate(path string) []error {
	r, err := l.Rule()
	if err != nil {
		return []error{fmt.Errorf("%s: %v", path, err)}
	}
	return r.Validate(path)
}

// Match reports whether s matches the glob pattern, where * matches any run
// of characters: the one pattern language of policies, key model and tool
// lists, and toolsets.
func Match(s, pattern string) bool { return glob.Match(s, pattern) }

// MatchAny reports whether s matches any of the glob patterns.
func MatchAny(s string, patterns []string) bool {
	for _, p := range patterns {
		if glob.Match(s, p) {
			return true
		}
	}
	return false
}
