package gateway

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/telemetry"
)

// The admin API for access policies, prices and usage.

func (g *Gateway) listPolicies(w http.ResponseWriter, r *http.Request) error {
	rules := g.policy.Rules()
	if rules == nil {
		rules = []policy.Rule{} // an empty list is [], as for teams and keys
	}
	writeJSON(w, http.StatusOK, listBody[policy.Rule]{Data: rules})
	return nil
}

func (g *Gateway) addPolicy(w http.ResponseWriter, r *http.Request) error {
	return decodeAndApply(w, r, http.StatusCreated, g.policy.AddRule, policyError)
}

func (g *Gateway) removePolicy(w http.ResponseWriter, r *http.Request) error {
	var rule policy.Rule
	if err := decodeJSON(r, &rule); err != nil {
		return err
	}
	return noContent(w, g.policy.RemoveRule(r.Context(), rule), policyError)
}

// checkRequest asks for an access decision: for a key (by id or name), or
// for a subject in a domain.
type checkRequest struct {
	Key     string `json:"key,omitempty"`
	Subject string `json:"subject,omitempty"`
	Domain  string `json:"domain,omitempty"`
	Object  string `json:"object"`
	Action  string `json:"action"`
}

type checkResponse struct {
	Allowed bool     `json:"allowed"`
	Subject string   `json:"subject"`
	Domain  string   `json:"domain"`
	Object  string   `json:"object"`
	Action  string   `json:"action"`
	Rule    []string `json:"rule,omitempty"` // the rule that decided, when one matched
}

// checkPolicy explains an access decision: what the caller would get, and why.
func (g *Gateway) checkPolicy(w http.ResponseWriter, r *http.Request) error {
	var req checkRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Object == "" || req.Action == "" {
		return errBadRequest("invalid_request", "object and action are required")
	}
	if req.Key != "" {
		k, err := g.policy.Key(req.Key)
		if err != nil {
			return policyError(err)
		}
		req.Subject, req.Domain = k.Subject(), k.Team
	}
	if req.Subject == "" {
		return errBadRequest("invalid_request", "key or subject is required")
	}
	allowed, rule, err := g.policy.Check(req.Subject, req.Domain, req.Object, req.Action)
	if err != nil {
		return errBadRequest("invalid_request", "cannot evaluate: "+err.Error())
	}
	writeJSON(w, http.StatusOK, checkResponse{Allowed: allowed, Subject: req.Subject, Domain: req.Domain,
		Object: req.Object, Action: req.Action, Rule: rule})
	return nil
}

func (g *Gateway) listPrices(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, listBody[policy.Price]{Data: g.policy.Prices().List()})
	return nil
}

func (g *Gateway) getPrice(w http.ResponseWriter, r *http.Request) error {
	model := pathParam(r, "*")
	p, ok := g.policy.Prices().Lookup(model)
	if !ok {
		return errNotFound("no price for model " + strconvQuote(model))
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (g *Gateway) setPrice(w http.ResponseWriter, r *http.Request) error {
	return decodeAndApply(w, r, http.StatusOK, g.policy.SetPrice, policyError)
}

func (g *Gateway) deletePrice(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, g.policy.DeletePrice(r.Context(), pathParam(r, "*")), policyError)
}

// UsageRow is one aggregate of usage as GET /admin/v1/usage answers it (the
// CLI reads it too).
type UsageRow struct {
	Group            string  `json:"group,omitempty"`
	Requests         int64   `json:"requests"`
	Errors           int64   `json:"errors"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	CachedTokens     int64   `json:"cached_tokens"`
	CostUSD          float64 `json:"cost_usd"`
}

type usageResponse struct {
	GroupBy string     `json:"group_by,omitempty"`
	From    *time.Time `json:"from,omitempty"`
	To      *time.Time `json:"to,omitempty"`
	Data    []UsageRow `json:"data"`
}

// usage aggregates recorded usage:
// ?key=&team=&model=&tool=&kind=&from=&to=&group_by=key|team|model|tool|day&limit=
func (g *Gateway) usage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	uq := store.UsageQuery{Team: q.Get("team"), Model: q.Get("model"), Tool: q.Get("tool"), Kind: q.Get("kind"), GroupBy: q.Get("group_by")}
	switch uq.GroupBy {
	case "", "key", "team", "model", "tool", "day":
	default:
		return errBadRequest("invalid_request", "group_by must be one of key, team, model, tool, day")
	}
	if key := q.Get("key"); key != "" {
		uq.KeyID = key
		if k, err := g.policy.Key(key); err == nil {
			uq.KeyID = k.ID // accept a name too; a revoked key's id still works
		}
	}
	var err error
	if uq.From, err = parseTimeParam("from", q.Get("from")); err != nil {
		return err
	}
	if uq.To, err = parseTimeParam("to", q.Get("to")); err != nil {
		return err
	}
	if !uq.From.IsZero() && !uq.To.IsZero() && uq.From.After(uq.To) {
		return errBadRequest("invalid_request", "from must not be after to")
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return errBadRequest("invalid_request", "limit must be a non-negative integer")
		}
		uq.Limit = n
	}
	if err := g.policy.FlushUsage(r.Context()); err != nil {
		if errors.Is(err, telemetry.ErrUsageBuffered) {
			return &Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "store_unavailable",
				Message: "the store is not taking usage records right now; they are buffered and written when it does; try again",
				Err:     err, Header: map[string]string{"Retry-After": "5"}}
		}
		return err
	}
	rows, err := g.policy.Usage(r.Context(), uq)
	if err != nil {
		return errInternal(err)
	}
	resp := usageResponse{GroupBy: uq.GroupBy, Data: make([]UsageRow, 0, len(rows))}
	if !uq.From.IsZero() {
		resp.From = &uq.From
	}
	if !uq.To.IsZero() {
		resp.To = &uq.To
	}
	for _, row := range rows {
		if row.Requests == 0 {
			continue // the ungrouped total of no usage: report no rows
		}
		resp.Data = append(resp.Data, UsageRow{Group: row.Group, Requests: row.Requests, Errors: row.Errors,
			PromptTokens: row.PromptTokens, CompletionTokens: row.CompletionTokens, CachedTokens: row.CachedTokens,
			CostUSD: float64(row.CostMicros) / 1e6})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// parseTimeParam accepts RFC 3339 times and YYYY-MM-DD dates (UTC midnight).
func parseTimeParam(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, errBadRequest("invalid_request", name+" must be an RFC 3339 time or a YYYY-MM-DD date")
}

func strconvQuote(s string) string { return strconv.Quote(strings.TrimSpace(s)) }
