package mcptest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/color"
	"image/png"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// This file holds the client-side checks that every way of reaching a
// server (in-process HTTP, in-process stdio, the example binary over stdio
// and HTTP) must pass, and the helpers to connect real mcp-go clients.

// testTimeout bounds any single wait in these tests.
const testTimeout = 15 * time.Second

// era is the MCP protocol era a test client speaks.
type era string

const (
	// eraModern is protocol version 2026-07-28: server/discover and
	// subscriptions/listen, no sessions.
	eraModern era = "modern"
	// eraLegacy is protocol version 2025-11-25: the initialize handshake
	// and, over HTTP, a standalone GET stream.
	eraLegacy era = "legacy"
)

// wantProtocol is the version a client of the era must end up with.
func (e era) wantProtocol() string {
	if e == eraLegacy {
		return mcp.LATEST_LEGACY_PROTOCOL_VERSION
	}
	return mcp.ProtocolVersion20260728
}

// clientOptions pins the client to the era.
func (e era) clientOptions() []client.ClientOption {
	if e == eraLegacy {
		return []client.ClientOption{client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION)}
	}
	return nil
}

// recorder collects the notifications a client receives.
type recorder struct {
	// mu guards seen and changed.
	mu   sync.Mutex
	seen []mcp.JSONRPCNotification
	// changed is closed and replaced whenever a notification arrives.
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) add(n mcp.JSONRPCNotification) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, n)
	close(r.changed)
	r.changed = make(chan struct{})
}

// count returns how many notifications so far match pred.
func (r *recorder) count(pred func(mcp.JSONRPCNotification) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.seen {
		if pred(x) {
			n++
		}
	}
	return n
}

// waitFor blocks until at least n notifications match pred, and returns
// them in arrival order.
func (r *recorder) waitFor(ctx context.Context, n int, pred func(mcp.JSONRPCNotification) bool) ([]mcp.JSONRPCNotification, error) {
	for {
		r.mu.Lock()
		var got []mcp.JSONRPCNotification
		for _, x := range r.seen {
			if pred(x) {
				got = append(got, x)
			}
		}
		changed := r.changed
		r.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return got, fmt.Errorf("waiting for %d matching notifications, got %d: %w", n, len(got), ctx.Err())
		}
	}
}

func isMethod(method string) func(mcp.JSONRPCNotification) bool {
	return func(n mcp.JSONRPCNotification) bool { return n.Method == method }
}

func isProgressFor(token string) func(mcp.JSONRPCNotification) bool {
	return func(n mcp.JSONRPCNotification) bool {
		return n.Method == string(mcp.MethodNotificationProgress) && n.Params.AdditionalFields["progressToken"] == token
	}
}

// target is one way of reaching a server under test.
type target struct {
	// era is the protocol era of the clients connect makes.
	era era
	// connect returns a started client whose notifications go to rec; the
	// client is closed when the test ends.
	connect func(t *testing.T, rec *recorder) *client.Client
	// wantName is the serverInfo name.
	wantName string
	// wantTools are the tool names tools/list must serve, in order.
	wantTools []string
	// server is the in-process server, nil when it runs in a child process
	// (then tools are added and removed through the control tools).
	server *Server
	// cancelReachesServer says whether cancelling a call stops the handler
	// on the server: mcp-go's legacy SSE client sends no
	// notifications/cancelled, so there it does not.
	cancelReachesServer bool
}

// runConformance connects a client to tg and checks everything the servers
// promise, each as a subtest. The list_changed check runs last because it
// changes the catalog.
func runConformance(t *testing.T, tg target) {
	rec := newRecorder()
	c := tg.connect(t, rec)
	initialize(t, c, tg)

	checks := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, c *client.Client, tg target, rec *recorder)
	}{
		{"tools/list", checkToolList},
		{"echo", checkEcho},
		{"add", checkAdd},
		{"structured", checkStructured},
		{"fail", checkFail},
		{"large", checkLarge},
		{"image", checkImage},
		{"sleep progress", checkSleepProgress},
		{"sleep cancel", checkSleepCancel},
		{"resources", checkResources},
		{"prompt", checkPrompt},
		{"list_changed", checkListChanged},
	}
	for _, check := range checks {
		t.Run(check.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			check.run(t, ctx, c, tg, rec)
		})
	}
}

// initialize runs the handshake (or discovery) and checks the server's
// identity, capabilities and the negotiated protocol version.
func initialize(t *testing.T, c *client.Client, tg target) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	res, err := c.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{
		ClientInfo: mcp.Implementation{Name: "mcptest-test-client", Version: "1.0.0"},
	}})
	if err != nil {
		t.Fatalf("initialize: %v", err)
	}
	if res.ServerInfo.Name != tg.wantName || res.ServerInfo.Version != DefaultVersion {
		t.Errorf("serverInfo = %+v, want name %q version %q", res.ServerInfo, tg.wantName, DefaultVersion)
	}
	if res.Capabilities.Tools == nil || !res.Capabilities.Tools.ListChanged {
		t.Errorf("capabilities.tools = %+v, want listChanged true", res.Capabilities.Tools)
	}
	if res.Capabilities.Resources == nil || res.Capabilities.Prompts == nil {
		t.Errorf("capabilities = %+v, want resources and prompts", res.Capabilities)
	}
	if got := c.ProtocolVersion(); got != tg.era.wantProtocol() {
		t.Errorf("protocol version = %q, want %q", got, tg.era.wantProtocol())
	}
}

func callTool(ctx context.Context, c *client.Client, name string, args map[string]any) (*mcp.CallToolResult, error) {
	return c.CallTool(ctx, mcp.CallToolRequest{Params: mcp.CallToolParams{Name: name, Arguments: args}})
}

// mustCall calls a tool that must answer with a result (error or not).
func mustCall(t *testing.T, ctx context.Context, c *client.Client, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := callTool(ctx, c, name, args)
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	return res
}

// onlyText returns the text of a result made of one text block.
func onlyText(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if len(res.Content) != 1 {
		t.Fatalf("content has %d blocks, want 1: %+v", len(res.Content), res.Content)
	}
	text, ok := mcp.AsTextContent(res.Content[0])
	if !ok {
		t.Fatalf("content[0] is %T, want text", res.Content[0])
	}
	return text.Text
}

// schemaProp returns schema.properties[name] as an object.
func schemaProp(t *testing.T, props map[string]any, name string) map[string]any {
	t.Helper()
	prop, ok := props[name].(map[string]any)
	if !ok {
		t.Fatalf("property %q is %T, want an object", name, props[name])
	}
	return prop
}

func checkToolList(t *testing.T, ctx context.Context, c *client.Client, tg target, _ *recorder) {
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	tools := map[string]mcp.Tool{}
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		tools[tool.Name] = tool
		if tool.Description == "" {
			t.Errorf("tool %s has no description", tool.Name)
		}
		if tool.InputSchema.Type != "object" {
			t.Errorf("tool %s inputSchema.type = %q, want object", tool.Name, tool.InputSchema.Type)
		}
	}
	if !slices.Equal(names, tg.wantTools) {
		t.Fatalf("tools = %q, want %q", names, tg.wantTools)
	}

	echo := tools[ToolEcho]
	if !slices.Equal(echo.InputSchema.Required, []string{"message"}) {
		t.Errorf("echo required = %q, want [message]", echo.InputSchema.Required)
	}
	if msg := schemaProp(t, echo.InputSchema.Properties, "message"); msg["type"] != "string" || msg["description"] == "" {
		t.Errorf("echo message schema = %v", msg)
	}
	if echo.InputSchema.AdditionalProperties != false {
		t.Errorf("echo additionalProperties = %v, want false", echo.InputSchema.AdditionalProperties)
	}
	kind := schemaProp(t, tools[ToolFail].InputSchema.Properties, "kind")
	if !reflect.DeepEqual(kind["enum"], []any{"tool", "protocol"}) {
		t.Errorf("fail kind enum = %v", kind["enum"])
	}
	query := schemaProp(t, tools[ToolStructured].InputSchema.Properties, "query")
	nested, _ := query["properties"].(map[string]any)
	if query["type"] != "object" || nested["text"] == nil || !reflect.DeepEqual(query["required"], []any{"text"}) {
		t.Errorf("structured query schema = %v, want a nested object requiring text", query)
	}
	for _, name := range []string{ToolAdd, ToolStructured} {
		out := tools[name].OutputSchema
		if out.Type != "object" || len(out.Properties) == 0 {
			t.Errorf("tool %s outputSchema = %+v, want an object schema", name, out)
		}
	}
	for _, name := range []string{ToolEcho, ToolSleep, ToolFail, ToolLarge, ToolImage} {
		if tools[name].OutputSchema.Type != "" {
			t.Errorf("tool %s has an outputSchema, want none", name)
		}
	}
}

func checkEcho(t *testing.T, ctx context.Context, c *client.Client, _ target, _ *recorder) {
	const message = "héllo, wörld <&> \"quoted\"\n\ttabbed 🚀"
	res := mustCall(t, ctx, c, ToolEcho, map[string]any{"message": message})
	if res.IsError || onlyText(t, res) != message {
		t.Errorf("echo = %+v, want the message back", res)
	}
}

func checkAdd(t *testing.T, ctx context.Context, c *client.Client, _ target, _ *recorder) {
	res := mustCall(t, ctx, c, ToolAdd, map[string]any{"a": 2, "b": 3.5})
	if res.IsError || onlyText(t, res) != "5.5" {
		t.Errorf("add text = %+v, want 5.5", res.Content)
	}
	if want := map[string]any{"sum": 5.5}; !reflect.DeepEqual(res.StructuredContent, want) {
		t.Errorf("add structuredContent = %#v, want %#v", res.StructuredContent, want)
	}
}

func checkStructured(t *testing.T, ctx context.Context, c *client.Client, _ target, _ *recorder) {
	res := mustCall(t, ctx, c, ToolStructured, map[string]any{
		"query": map[string]any{"text": "mcp", "limit": 2},
		"tags":  []string{"a", "b"},
	})
	if res.IsError {
		t.Fatalf("structured failed: %+v", res.Content)
	}
	want := StructuredOutput{Query: "mcp", Total: 2, Results: []StructuredResult{
		{Rank: 1, Title: "mcp #1", Tags: []string{"a", "b"}},
		{Rank: 2, Title: "mcp #2", Tags: []string{"a", "b"}},
	}}
	var structured, fallback StructuredOutput
	if err := json.Unmarshal(res.RawStructuredContent, &structured); err != nil {
		t.Fatalf("structuredContent %s: %v", res.RawStructuredContent, err)
	}
	if err := json.Unmarshal([]byte(onlyText(t, res)), &fallback); err != nil {
		t.Fatalf("text fallback is not the JSON result: %v", err)
	}
	if !reflect.DeepEqual(structured, want) || !reflect.DeepEqual(fallback, want) {
		t.Errorf("structured = %+v, fallback = %+v, want %+v", structured, fallback, want)
	}
}

func checkFail(t *testing.T, ctx context.Context, c *client.Client, _ target, _ *recorder) {
	res := mustCall(t, ctx, c, ToolFail, nil)
	if !res.IsError || onlyText(t, res) != "requested failure" {
		t.Errorf("fail = %+v, want isError with the default message", res)
	}
	res = mustCall(t, ctx, c, ToolFail, map[string]any{"message": "custom boom"})
	if !res.IsError || onlyText(t, res) != "custom boom" {
		t.Errorf("fail with message = %+v, want isError with the message", res)
	}
	_, err := callTool(ctx, c, ToolFail, map[string]any{"kind": "protocol", "message": "protocol boom"})
	if err == nil || !strings.Contains(err.Error(), "protocol boom") {
		t.Errorf("fail kind=protocol error = %v, want a JSON-RPC error with the message", err)
	}
}

func checkLarge(t *testing.T, ctx context.Context, c *client.Client, _ target, _ *recorder) {
	for _, n := range []int{0, 1, 100_000} {
		res := mustCall(t, ctx, c, ToolLarge, map[string]any{"bytes": n})
		if text := onlyText(t, res); res.IsError || len(text) != n || text != LargeText(n) {
			t.Errorf("large(%d) returned %d bytes (isError %v)", n, len(text), res.IsError)
		}
	}
	for _, bad := range []any{-1, MaxLargeBytes + 1, 1.5, "10"} {
		res := mustCall(t, ctx, c, ToolLarge, map[string]any{"bytes": bad})
		if !res.IsError {
			t.Errorf("large(%v) = %+v, want isError", bad, res)
		}
	}
}

func checkImage(t *testing.T, ctx context.Context, c *client.Client, _ target, _ *recorder) {
	res := mustCall(t, ctx, c, ToolImage, map[string]any{"color": "green"})
	if res.IsError || len(res.Content) != 1 {
		t.Fatalf("image = %+v", res)
	}
	img, ok := mcp.AsImageContent(res.Content[0])
	if !ok {
		t.Fatalf("content[0] is %T, want image", res.Content[0])
	}
	if img.Type != "image" || img.MIMEType != "image/png" {
		t.Errorf("image type %q mimeType %q, want image and image/png", img.Type, img.MIMEType)
	}
	data, err := base64.StdEncoding.DecodeString(img.Data)
	if err != nil {
		t.Fatalf("image data is not base64: %v", err)
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("image data does not start with the PNG signature: % x", data[:min(8, len(data))])
	}
	decoded, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode png: %v", err)
	}
	if b := decoded.Bounds(); b.Dx() != ImageSize || b.Dy() != ImageSize {
		t.Errorf("image is %dx%d, want %dx%d", b.Dx(), b.Dy(), ImageSize, ImageSize)
	}
	if got := color.RGBAModel.Convert(decoded.At(0, 0)); got != (color.RGBA{G: 0xff, A: 0xff}) {
		t.Errorf("pixel = %v, want green", got)
	}
}

func checkSleepProgress(t *testing.T, ctx context.Context, c *client.Client, _ target, rec *recorder) {
	const token = "progress-sleep"
	res, err := c.CallTool(ctx, mcp.CallToolRequest{Params: mcp.CallToolParams{
		Name:      ToolSleep,
		Arguments: map[string]any{"ms": 300, "progress_interval_ms": 50},
		Meta:      &mcp.Meta{ProgressToken: token},
	}})
	if err != nil {
		t.Fatalf("sleep: %v", err)
	}
	if res.IsError || onlyText(t, res) != "slept 300ms" {
		t.Errorf("sleep = %+v", res)
	}
	// Some transports may deliver the last notifications after the
	// response, so wait for them rather than count them now.
	notes, err := rec.waitFor(ctx, 3, isProgressFor(token))
	if err != nil {
		t.Fatal(err)
	}
	last := -1.0
	for _, n := range notes {
		progress, _ := n.Params.AdditionalFields["progress"].(float64)
		total, _ := n.Params.AdditionalFields["total"].(float64)
		if progress <= last || progress > 300 || total != 300 {
			t.Errorf("progress %v of %v after %v: want increasing, at most total 300", progress, total, last)
		}
		last = progress
	}
}

func checkSleepCancel(t *testing.T, ctx context.Context, c *client.Client, tg target, rec *recorder) {
	const token = "progress-cancel"
	callCtx, cancelCall := context.WithCancel(ctx)
	defer cancelCall()
	done := make(chan error, 1)
	go func() {
		_, err := c.CallTool(callCtx, mcp.CallToolRequest{Params: mcp.CallToolParams{
			Name:      ToolSleep,
			Arguments: map[string]any{"ms": 60_000, "progress_interval_ms": 20},
			Meta:      &mcp.Meta{ProgressToken: token},
		}})
		done <- err
	}()
	// The first progress notification proves the handler is running.
	if _, err := rec.waitFor(ctx, 1, isProgressFor(token)); err != nil {
		t.Fatal(err)
	}
	cancelled := time.Now()
	cancelCall()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("cancelled sleep returned no error")
		}
		if elapsed := time.Since(cancelled); elapsed > 5*time.Second {
			t.Errorf("cancelled sleep returned after %s, want promptly", elapsed)
		}
	case <-ctx.Done():
		t.Fatal("cancelled sleep did not return")
	}
	if tg.server != nil && tg.cancelReachesServer {
		if err := tg.server.WaitIdle(ctx); err != nil {
			t.Fatalf("server handler still running after cancel: %v", err)
		}
		if got := tg.server.Stats().Cancelled; got < 1 {
			t.Errorf("server counted %d cancelled calls, want at least 1", got)
		}
	}
	// The connection must still serve calls.
	if res := mustCall(t, ctx, c, ToolEcho, map[string]any{"message": "still here"}); onlyText(t, res) != "still here" {
		t.Errorf("echo after cancel = %+v", res)
	}
}

func checkResources(t *testing.T, ctx context.Context, c *client.Client, tg target, _ *recorder) {
	list, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
	if err != nil {
		t.Fatalf("resources/list: %v", err)
	}
	if len(list.Resources) != 1 || list.Resources[0].URI != ReadmeURI || list.Resources[0].MIMEType != ReadmeMIMEType {
		t.Errorf("resources = %+v, want only %s", list.Resources, ReadmeURI)
	}
	readme, err := c.ReadResource(ctx, mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: ReadmeURI}})
	if err != nil {
		t.Fatalf("read %s: %v", ReadmeURI, err)
	}
	if len(readme.Contents) != 1 {
		t.Fatalf("readme has %d contents, want 1", len(readme.Contents))
	}
	text, ok := readme.Contents[0].(mcp.TextResourceContents)
	if !ok || text.MIMEType != ReadmeMIMEType || text.Text != ReadmeText(tg.wantName) {
		t.Errorf("readme = %#v", readme.Contents[0])
	}

	templates, err := c.ListResourceTemplates(ctx, mcp.ListResourceTemplatesRequest{})
	if err != nil {
		t.Fatalf("resources/templates/list: %v", err)
	}
	if len(templates.ResourceTemplates) != 1 || templates.ResourceTemplates[0].URITemplate.Raw() != EchoResourceTemplate {
		t.Errorf("resource templates = %+v, want only %s", templates.ResourceTemplates, EchoResourceTemplate)
	}
	echoed, err := c.ReadResource(ctx, mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: "mcptest://echo/hello%20world"}})
	if err != nil {
		t.Fatalf("read templated resource: %v", err)
	}
	if len(echoed.Contents) != 1 {
		t.Fatalf("templated resource has %d contents, want 1", len(echoed.Contents))
	}
	if text, ok := echoed.Contents[0].(mcp.TextResourceContents); !ok || text.Text != "hello world" || text.MIMEType != "text/plain" {
		t.Errorf("templated resource = %#v, want text/plain %q", echoed.Contents[0], "hello world")
	}
}

func checkPrompt(t *testing.T, ctx context.Context, c *client.Client, _ target, _ *recorder) {
	list, err := c.ListPrompts(ctx, mcp.ListPromptsRequest{})
	if err != nil {
		t.Fatalf("prompts/list: %v", err)
	}
	if len(list.Prompts) != 1 || list.Prompts[0].Name != PromptGreet {
		t.Fatalf("prompts = %+v, want only %s", list.Prompts, PromptGreet)
	}
	args := list.Prompts[0].Arguments
	if len(args) != 2 || args[0].Name != "name" || !args[0].Required || args[1].Required {
		t.Errorf("greet arguments = %+v, want required name and optional style", args)
	}
	res, err := c.GetPrompt(ctx, mcp.GetPromptRequest{Params: mcp.GetPromptParams{
		Name: PromptGreet, Arguments: map[string]string{"name": "Ada", "style": "formal"},
	}})
	if err != nil {
		t.Fatalf("prompts/get: %v", err)
	}
	if len(res.Messages) != 1 || res.Messages[0].Role != mcp.RoleUser {
		t.Fatalf("greet messages = %+v, want one user message", res.Messages)
	}
	text, ok := mcp.AsTextContent(res.Messages[0].Content)
	if !ok || !strings.Contains(text.Text, "Ada") || !strings.Contains(text.Text, "formal") {
		t.Errorf("greet message = %#v, want a formal greeting for Ada", res.Messages[0].Content)
	}
}

// checkListChanged adds and removes a tool at run time and expects a
// notifications/tools/list_changed for each change.
func checkListChanged(t *testing.T, ctx context.Context, c *client.Client, tg target, rec *recorder) {
	if tg.era == eraModern {
		// From 2026-07-28 clients opt in to notifications.
		stop, err := c.ListenAsync(ctx, mcp.SubscriptionFilter{ToolsListChanged: true}, func(err error) {
			t.Errorf("subscriptions/listen: %v", err)
		})
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		defer stop()
		if _, err := rec.waitFor(ctx, 1, isMethod(mcp.MethodNotificationSubscriptionsAcknowledged)); err != nil {
			t.Fatal(err)
		}
	}

	const added = "added_at_runtime"
	changed := isMethod(mcp.MethodNotificationToolsListChanged)
	before := rec.count(changed)
	changeCatalog(t, ctx, c, tg, ToolControlAddTool, added)
	if _, err := rec.waitFor(ctx, before+1, changed); err != nil {
		t.Fatalf("after adding a tool: %v", err)
	}
	want := slices.Sorted(slices.Values(append(slices.Clone(tg.wantTools), added)))
	if got := listToolNames(t, ctx, c); !slices.Equal(got, want) {
		t.Errorf("tools after adding = %q, want %q", got, want)
	}
	if res := mustCall(t, ctx, c, added, map[string]any{"message": "new"}); onlyText(t, res) != "new" {
		t.Errorf("added tool answered %+v", res)
	}

	changeCatalog(t, ctx, c, tg, ToolControlRemoveTool, added)
	if _, err := rec.waitFor(ctx, before+2, changed); err != nil {
		t.Fatalf("after removing a tool: %v", err)
	}
	if got := listToolNames(t, ctx, c); !slices.Equal(got, tg.wantTools) {
		t.Errorf("tools after removing = %q, want %q", got, tg.wantTools)
	}
}

// changeCatalog adds or removes the echo tool name, directly on an
// in-process server or through a control tool otherwise.
func changeCatalog(t *testing.T, ctx context.Context, c *client.Client, tg target, control, name string) {
	t.Helper()
	if tg.server == nil {
		if res := mustCall(t, ctx, c, control, map[string]any{"name": name}); res.IsError {
			t.Fatalf("%s: %+v", control, res.Content)
		}
		return
	}
	var err error
	if control == ToolControlAddTool {
		err = tg.server.AddTools(EchoTool(name))
	} else {
		err = tg.server.RemoveTools(name)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func listToolNames(t *testing.T, ctx context.Context, c *client.Client) []string {
	t.Helper()
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	names := make([]string, 0, len(res.Tools))
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	return names
}

// quietLogger discards the mcp-go clients' informational logs.
var quietLogger = slog.New(slog.DiscardHandler)

// testHTTPClient returns an HTTP client with its own connection pool, closed
// when the test ends, so no keep-alive goroutine outlives the test.
func testHTTPClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// startClient starts c, routes its notifications to rec and closes it when
// the test ends.
func startClient(t *testing.T, c *client.Client, rec *recorder) *client.Client {
	t.Helper()
	c.OnNotification(rec.add)
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("start client: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close client: %v", err)
		}
	})
	return c
}

// connectStreamable connects a streamable HTTP client of the era to url.
// Legacy clients also open the standalone GET stream, as real ones do.
func connectStreamable(url string, e era) func(t *testing.T, rec *recorder) *client.Client {
	return func(t *testing.T, rec *recorder) *client.Client {
		t.Helper()
		opts := []transport.StreamableHTTPCOption{
			transport.WithHTTPBasicClient(testHTTPClient(t)),
			transport.WithHTTPLogger(quietLogger),
		}
		if e == eraLegacy {
			//lint:ignore SA1019 the standalone GET stream is how legacy clients receive list_changed; it must keep working.
			opts = append(opts, transport.WithContinuousListening())
		}
		tr, err := transport.NewStreamableHTTP(url, opts...)
		if err != nil {
			t.Fatalf("streamable http transport: %v", err)
		}
		return startClient(t, client.NewClient(tr, e.clientOptions()...), rec)
	}
}

// connectSSE connects a legacy SSE client to url.
func connectSSE(url string) func(t *testing.T, rec *recorder) *client.Client {
	return func(t *testing.T, rec *recorder) *client.Client {
		t.Helper()
		tr, err := transport.NewSSE(url, transport.WithHTTPClient(testHTTPClient(t)), transport.WithSSELogger(quietLogger))
		if err != nil {
			t.Fatalf("sse transport: %v", err)
		}
		return startClient(t, client.NewClient(tr, eraLegacy.clientOptions()...), rec)
	}
}
