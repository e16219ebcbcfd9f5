package qdranttest

import (
	"slices"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// matchFilter evaluates a filter against a point as Qdrant does: every must
// condition, at least one should condition (when there are any), and no
// must_not condition. A nil filter matches everything.
func matchFilter(f *qdrant.Filter, p *point) (bool, error) {
	if f == nil {
		return true, nil
	}
	if f.MinShould != nil {
		return false, status.Error(codes.Unimplemented, "qdranttest does not support min_should")
	}
	for _, c := range f.GetMust() {
		ok, err := matchCondition(c, p)
		if err != nil || !ok {
			return false, err
		}
	}
	for _, c := range f.GetMustNot() {
		ok, err := matchCondition(c, p)
		if err != nil || ok {
			return false, err
		}
	}
	if len(f.GetShould()) == 0 {
		return true, nil
	}
	for _, c := range f.GetShould() {
		ok, err := matchCondition(c, p)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func matchCondition(c *qdrant.Condition, p *point) (bool, error) {
	switch cond := c.GetConditionOneOf().(type) {
	case *qdrant.Condition_Field:
		return matchField(cond.Field, p)
	case *qdrant.Condition_Filter:
		return matchFilter(cond.Filter, p)
	case *qdrant.Condition_HasId:
		key, err := idKey(p.id)
		if err != nil {
			return false, err
		}
		for _, id := range cond.HasId.GetHasId() {
			if k, err := idKey(id); err == nil && k == key {
				return true, nil
			}
		}
		return false, nil
	}
	return false, status.Errorf(codes.Unimplemented, "qdranttest does not support condition %T", c.GetConditionOneOf())
}

// values returns the payload values at key: the elements of a list, or the
// value itself.
func values(p *point, key string) []*qdrant.Value {
	v, ok := p.payload[key]
	if !ok || v == nil {
		return nil
	}
	if l, ok := v.GetKind().(*qdrant.Value_ListValue); ok {
		return l.ListValue.GetValues()
	}
	return []*qdrant.Value{v}
}

func matchField(fc *qdrant.FieldCondition, p *point) (bool, error) {
	if fc.GeoBoundingBox != nil || fc.GeoRadius != nil || fc.GeoPolygon != nil || fc.ValuesCount != nil || fc.DatetimeRange != nil || fc.IsEmpty != nil || fc.IsNull != nil {
		return false, status.Error(codes.Unimplemented, "qdranttest supports only match and range field conditions")
	}
	vals := values(p, fc.GetKey())
	if m := fc.GetMatch(); m != nil {
		ok, err := matchValue(m, vals)
		if err != nil || !ok {
			return false, err
		}
	}
	if r := fc.GetRange(); r != nil {
		if !slices.ContainsFunc(vals, func(v *qdrant.Value) bool { return inRange(r, v) }) {
			return false, nil
		}
	}
	if fc.GetMatch() == nil && fc.GetRange() == nil {
		return false, status.Error(codes.InvalidArgument, "field condition without match or range")
	}
	return true, nil
}

func matchValue(m *qdrant.Match, vals []*qdrant.Value) (bool, error) {
	anyOf := func(pred func(*qdrant.Value) bool) bool { return slices.ContainsFunc(vals, pred) }
	switch mv := m.GetMatchValue().(type) {
	case *qdrant.Match_Keyword:
		return anyOf(func(v *qdrant.Value) bool { return isString(v, mv.Keyword) }), nil
	case *qdrant.Match_Keywords:
		return anyOf(func(v *qdrant.Value) bool {
			return slices.ContainsFunc(mv.Keywords.GetStrings(), func(s string) bool { return isString(v, s) })
		}), nil
	case *qdrant.Match_ExceptKeywords:
		if len(vals) == 0 {
			return true, nil
		}
		return anyOf(func(v *qdrant.Value) bool {
			return !slices.ContainsFunc(mv.ExceptKeywords.GetStrings(), func(s string) bool { return isString(v, s) })
		}), nil
	case *qdrant.Match_Integer:
		return anyOf(func(v *qdrant.Value) bool {
			i, ok := v.GetKind().(*qdrant.Value_IntegerValue)
			return ok && i.IntegerValue == mv.Integer
		}), nil
	case *qdrant.Match_Boolean:
		return anyOf(func(v *qdrant.Value) bool {
			b, ok := v.GetKind().(*qdrant.Value_BoolValue)
			return ok && b.BoolValue == mv.Boolean
		}), nil
	}
	return false, status.Errorf(codes.Unimplemented, "qdranttest does not support match %T", m.GetMatchValue())
}

func isString(v *qdrant.Value, s string) bool {
	sv, ok := v.GetKind().(*qdrant.Value_StringValue)
	return ok && sv.StringValue == s
}

func inRange(r *qdrant.Range, v *qdrant.Value) bool {
	var x float64
	switch n := v.GetKind().(type) {
	case *qdrant.Value_IntegerValue:
		x = float64(n.IntegerValue)
	case *qdrant.Value_DoubleValue:
		x = n.DoubleValue
	default:
		return false
	}
	return (r.Lt == nil || x < r.GetLt()) && (r.Lte == nil || x <= r.GetLte()) &&
		(r.Gt == nil || x > r.GetGt()) && (r.Gte == nil || x >= r.GetGte())
}
