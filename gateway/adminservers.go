package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/junctionhq/junction/apierror"
	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
)

// The admin API for upstream MCP servers and the federated tools.
// Registering a server (which may run a command) is an admin action only.

func registryError(err error) error {
	var un *registry.UnavailableError
	if errors.As(err, &un) {
		return &Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "upstream_unavailable", Message: un.Error()}
	}
	if e, ok := apierror.Resource[*registry.InvalidError](err, registry.ErrNotFound, registry.ErrReadOnly, registry.ErrConflict); ok {
		return e
	}
	return err
}

// mountServers mounts the admin API of the upstream servers.
func (g *Gateway) mountServers(r chi.Router) {
	mountResource(r, "/servers", "name", adminResource[registry.ServerConfig, registry.ServerInfo]{
		list: g.servers.Servers, create: g.servers.CreateServer, get: g.servers.Server,
		update: g.servers.UpdateServer, remove: g.servers.DeleteServer, apiError: registryError,
	})
	r.Get("/servers/{name}/tools", handlerFunc(g.serverTools).ServeHTTP)
	r.Post("/servers/{name}/refresh", handlerFunc(g.refreshServer).ServeHTTP)
}

// serverTool is an upstream tool in the admin API: its own name and the
// public name the hub serves it under.
type serverTool struct {
	Name       string          `json:"name"`
	PublicName string          `json:"public_name,omitempty"`
	Tool       json.RawMessage `json:"tool"`
}

func (g *Gateway) serverTools(w http.ResponseWriter, r *http.Request) error {
	name := pathParam(r, "name")
	tools, err := g.servers.ServerTools(name)
	if err != nil {
		return registryError(err)
	}
	public := map[string]string{}
	for _, t := range g.hub.Tools(policy.AdminIdentity(), "") {
		if t.Server == name {
			public[t.Tool] = t.Name
		}
	}
	out := make([]serverTool, 0, len(tools))
	for _, t := range tools {
		out = append(out, serverTool{Name: t.Name, PublicName: public[t.Name], Tool: t.Raw})
	}
	writeJSON(w, http.StatusOK, listBody[serverTool]{Data: out})
	return nil
}

func (g *Gateway) refreshServer(w http.ResponseWriter, r *http.Request) error {
	name := pathParam(r, "name")
	if err := g.servers.Refresh(r.Context(), name); err != nil {
		return registryError(err)
	}
	info, err := g.servers.Server(name)
	if err != nil {
		return registryError(err)
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// listTools is the federated catalog: every tool under its public name.
// ?key= shows what that key may call instead.
func (g *Gateway) listTools(w http.ResponseWriter, r *http.Request) error {
	id := policy.AdminIdentity()
	if key := r.URL.Query().Get("key"); key != "" {
		found, err := g.policy.IdentityOf(key)
		if err != nil {
			return policyError(err)
		}
		id = found
	}
	writeJSON(w, http.StatusOK, listBody[mcp.ToolInfo]{Data: g.hub.Tools(id, r.URL.Query().Get("toolset"))})
	return nil
}

type toolCallRequest struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	// Timeout bounds the call, e.g. "30s"; default the server's timeout.
	Timeout string `json:"timeout,omitempty"`
}

// callTool calls a federated tool as the admin, through the same chain as
// /mcp (so it is audited and metered like any call).
func (g *Gateway) callTool(w http.ResponseWriter, r *http.Request) error {
	var req toolCallRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		return errBadRequest("invalid_request", "name is required")
	}
	if len(req.Arguments) == 0 {
		req.Arguments = json.RawMessage(`{}`)
	}
	var opts mcp.CallOptions
	if req.Timeout != "" {
		d, err := time.ParseDuration(req.Timeout)
		if err != nil || d <= 0 {
			return errBadRequest("invalid_request", "timeout must be a positive duration such as 30s")
		}
		opts.Timeout = d
	}
	res, err := g.hub.CallToolWith(r.Context(), policy.AdminIdentity(), req.Name, req.Arguments, opts)
	if err != nil {
		var unknown *mcp.UnknownToolError
		var up *mcp.UpstreamError
		switch {
		case errors.As(err, &unknown):
			return errNotFound(err.Error())
		case errors.As(err, &up):
			return &Error{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_error", Message: up.Message(), Err: err}
		}
		return policyError(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res)
	return nil
}
