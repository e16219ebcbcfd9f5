package mcptest

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/mark3labs/mcp-go/mcp"
)

// toolArgs returns the call's arguments as an object, rejecting keys outside
// allowed (the tools' schemas say additionalProperties: false). Missing or
// null arguments are an empty object. Arguments that are not a decoded JSON
// object (an in-process caller may pass a struct) go through one JSON round
// trip.
func toolArgs(request mcp.CallToolRequest, allowed ...string) (map[string]any, error) {
	var args map[string]any
	switch raw := request.Params.Arguments.(type) {
	case nil:
		args = map[string]any{}
	case map[string]any:
		args = raw
	default:
		encoded, err := json.Marshal(raw)
		if err != nil {
			return nil, fmt.Errorf("arguments cannot be encoded as JSON: %w", err)
		}
		var decoded any
		if err := json.Unmarshal(encoded, &decoded); err != nil {
			return nil, fmt.Errorf("arguments are not valid JSON: %w", err)
		}
		switch obj := decoded.(type) {
		case nil:
			args = map[string]any{}
		case map[string]any:
			args = obj
		default:
			return nil, fmt.Errorf("arguments must be an object, got %s", jsonType(decoded))
		}
	}
	if err := onlyKeys(args, allowed); err != nil {
		return nil, err
	}
	return args, nil
}

// onlyKeys reports keys of obj that are not in allowed, sorted for a stable
// message.
func onlyKeys(obj map[string]any, allowed []string) error {
	var unknown []string
	for key := range obj {
		if !slices.Contains(allowed, key) {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("unknown arguments %q (allowed: %q)", unknown, allowed)
	}
	return nil
}

// stringArg returns obj[key] as a string, def when absent, or an error when
// present with another type.
func stringArg(obj map[string]any, key, def string) (string, error) {
	v, ok := obj[key]
	if !ok {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("argument %q must be a string, got %s", key, jsonType(v))
	}
	return s, nil
}

// requiredString is stringArg for a required argument.
func requiredString(obj map[string]any, key string) (string, error) {
	if _, ok := obj[key]; !ok {
		return "", fmt.Errorf("argument %q is required", key)
	}
	return stringArg(obj, key, "")
}

// onlyString returns the arguments' one field, key, a required string.
func onlyString(request mcp.CallToolRequest, key string) (string, error) {
	args, err := toolArgs(request, key)
	if err != nil {
		return "", err
	}
	return requiredString(args, key)
}

// enumArg is stringArg restricted to values.
func enumArg(obj map[string]any, key, def string, values ...string) (string, error) {
	s, err := stringArg(obj, key, def)
	if err != nil {
		return "", err
	}
	if !slices.Contains(values, s) {
		return "", fmt.Errorf("argument %q must be one of %q, got %q", key, values, s)
	}
	return s, nil
}

// requiredNumber returns obj[key] as a finite number.
func requiredNumber(obj map[string]any, key string) (float64, error) {
	v, ok := obj[key]
	if !ok {
		return 0, fmt.Errorf("argument %q is required", key)
	}
	f, ok := v.(float64)
	if !ok {
		return 0, fmt.Errorf("argument %q must be a number, got %s", key, jsonType(v))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("argument %q must be finite", key)
	}
	return f, nil
}

// intArg returns obj[key] as an integer in [lo, hi], def when absent.
func intArg(obj map[string]any, key string, def, lo, hi int64) (int64, error) {
	v, ok := obj[key]
	if !ok {
		return def, nil
	}
	f, ok := v.(float64)
	if !ok {
		return 0, fmt.Errorf("argument %q must be an integer, got %s", key, jsonType(v))
	}
	if f != math.Trunc(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("argument %q must be an integer, got %v", key, f)
	}
	if f < float64(lo) || f > float64(hi) {
		return 0, fmt.Errorf("argument %q must be between %d and %d, got %v", key, lo, hi, f)
	}
	return int64(f), nil
}

// requiredInt is intArg for a required argument.
func requiredInt(obj map[string]any, key string, lo, hi int64) (int64, error) {
	if _, ok := obj[key]; !ok {
		return 0, fmt.Errorf("argument %q is required", key)
	}
	return intArg(obj, key, 0, lo, hi)
}

// jsonType names the JSON type of a decoded value, for error messages.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// invalidArguments is the tool error result for arguments that do not match
// the tool's input schema. MCP asks for input errors to be tool errors, so
// that a model can read the message and correct its call.
func invalidArguments(tool string, err error) *mcp.CallToolResult {
	return mcp.NewToolResultError(fmt.Sprintf("%s: invalid arguments: %v", tool, err))
}
