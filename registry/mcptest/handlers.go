package mcptest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Limits of the built-in tools' inputs; the tools' input schemas state the
// same bounds.
const (
	// MaxLargeBytes is the largest text the large tool returns.
	MaxLargeBytes = 8 << 20
	// MaxSleep is the longest the sleep tool sleeps.
	MaxSleep = 5 * time.Minute
	// DefaultProgressInterval is how often the sleep tool reports progress
	// when the call does not say.
	DefaultProgressInterval = 100 * time.Millisecond
	// MinProgressInterval is the shortest progress interval sleep accepts.
	MinProgressInterval = 10 * time.Millisecond
	// maxProgressInterval is the longest progress interval sleep accepts.
	maxProgressInterval = time.Minute
	// ImageSize is the width and height of the image tool's PNG, in pixels.
	ImageSize = 8
	// largePattern is repeated to fill the large tool's text.
	largePattern = "abcdefghijklmnopqrstuvwxyz0123456789\n"
)

// AddOutput is the structured content of the add tool.
type AddOutput struct {
	Sum float64 `json:"sum"`
}

// StructuredOutput is the structured content of the structured tool.
type StructuredOutput struct {
	Query   string             `json:"query"`
	Total   int                `json:"total"`
	Results []StructuredResult `json:"results"`
}

// StructuredResult is one entry of StructuredOutput.Results.
type StructuredResult struct {
	Rank  int      `json:"rank"`
	Title string   `json:"title"`
	Tags  []string `json:"tags"`
}

func handleEcho(_ context.Context, request mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	message, err := onlyString(request, "message")
	if err != nil {
		return invalidArguments(request.Params.Name, err), nil
	}
	return mcp.NewToolResultText(message), nil
}

func handleAdd(_ context.Context, request mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args, err := toolArgs(request, "a", "b")
	if err != nil {
		return invalidArguments(request.Params.Name, err), nil
	}
	a, err := requiredNumber(args, "a")
	if err != nil {
		return invalidArguments(request.Params.Name, err), nil
	}
	b, err := requiredNumber(args, "b")
	if err != nil {
		return invalidArguments(request.Params.Name, err), nil
	}
	sum := a + b
	if math.IsInf(sum, 0) {
		return mcp.NewToolResultError(fmt.Sprintf("%s: %v + %v overflows a float64", request.Params.Name, a, b)), nil
	}
	return &mcp.CallToolResult{
		Content:           []mcp.Content{mcp.NewTextContent(strconv.FormatFloat(sum, 'g', -1, 64))},
		StructuredContent: AddOutput{Sum: sum},
	}, nil
}

// handleSleep sleeps for the requested time. When the request carries a
// progress token it sends notifications/progress every interval, with
// progress and total in milliseconds. A cancelled request ends the sleep at
// once and the handler returns the context's error.
func handleSleep(ctx context.Context, request mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args, err := toolArgs(request, "ms", "progress_interval_ms")
	if err != nil {
		return invalidArguments(request.Params.Name, err), nil
	}
	ms, err := requiredInt(args, "ms", 0, MaxSleep.Milliseconds())
	if err != nil {
		return invalidArguments(request.Params.Name, err), nil
	}
	intervalMS, err := intArg(args, "progress_interval_ms", DefaultProgressInterval.Milliseconds(),
		MinProgressInterval.Milliseconds(), maxProgressInterval.Milliseconds())
	if err != nil {
		return invalidArguments(request.Params.Name, err), nil
	}

	var token mcp.ProgressToken
	if request.Params.Meta != nil {
		token = request.Params.Meta.ProgressToken
	}
	total := time.Duration(ms) * time.Millisecond
	progress := newProgressReporter(token, float64(ms))

	start := time.Now()
	timer := time.NewTimer(total)
	defer timer.Stop()
	ticker := time.NewTicker(time.Duration(intervalMS) * time.Millisecond)
	defer ticker.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: interrupted after %s: %w", request.Params.Name, time.Since(start).Round(time.Millisecond), ctx.Err())
		case <-ticker.C:
			progress.report(ctx, float64(time.Since(start).Milliseconds()))
		case <-timer.C:
			done = true
		}
	}
	progress.report(ctx, float64(ms))
	return mcp.NewToolResultText(fmt.Sprintf("slept %dms", ms)), nil
}

// progressReporter sends notifications/progress for one request. Progress
// only ever increases, as MCP requires, and never passes total.
type progressReporter struct {
	token mcp.ProgressToken
	total float64
	last  float64
}

func newProgressReporter(token mcp.ProgressToken, total float64) *progressReporter {
	return &progressReporter{token: token, total: total, last: -1}
}

// report sends progress (clamped to total) unless it would not advance.
// Progress is best effort: a session that cannot take a notification (no
// progress token, or a full notification queue) just misses it.
func (p *progressReporter) report(ctx context.Context, progress float64) {
	if p.token == nil {
		return
	}
	progress = math.Min(progress, p.total)
	if progress <= p.last {
		return
	}
	p.last = progress
	srv := server.ServerFromContext(ctx)
	if srv == nil {
		return
	}
	_ = srv.SendNotificationToClient(ctx, string(mcp.MethodNotificationProgress), map[string]any{
		"progressToken": p.token,
		"progress":      progress,
		"total":         p.total,
		"message":       fmt.Sprintf("slept %.0f of %.0f ms", progress, p.total),
	})
}

// handleFail fails the way the call asks: a tool error result, or a
// JSON-RPC error when kind is "protocol".
func handleFail(_ context.Context, request mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args, err := toolArgs(request, "message", "kind")
	if err != nil {
		return invalidArguments(request.Params.Name, err), nil
	}
	message, err := stringArg(args, "message", "requested failure")
	if err != nil {
		return invalidArguments(request.Params.Name, err), nil
	}
	kind, err := enumArg(args, "kind", "tool", "tool", "protocol")
	if err != nil {
		return invalidArguments(request.Params.Name, err), nil
	}
	if kind == "protocol" {
		return nil, errors.New(message)
	}
	return mcp.NewToolResultError(message), nil
}

// handleLarge returns exactly the requested number of bytes: largePattern
// repeated and cut to size, so equal requests give equal results.
func handleLarge(_ context.Context, request mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args, err := toolArgs(request, "bytes")
	if err != nil {
		return invalidArguments(request.Params.Name, err), nil
	}
	n, err := requiredInt(args, "bytes", 0, MaxLargeBytes)
	if err != nil {
		return invalidArguments(request.Params.Name, err), nil
	}
	return mcp.NewToolResultText(LargeText(int(n))), nil
}

// LargeText returns the text the large tool returns for n bytes (n is
// clamped to [0, MaxLargeBytes]), so tests can compare results exactly.
func LargeText(n int) string {
	n = min(max(n, 0), MaxLargeBytes)
	repeats := n/len(largePattern) + 1
	return strings.Repeat(largePattern, repeats)[:n]
}

// imageColor returns the fill colour of the image tool for a colour name.
func imageColor(name string) (color.RGBA, bool) {
	switch name {
	case "red":
		return color.RGBA{R: 0xff, A: 0xff}, true
	case "green":
		return color.RGBA{G: 0xff, A: 0xff}, true
	case "blue":
		return color.RGBA{B: 0xff, A: 0xff}, true
	default:
		return color.RGBA{}, false
	}
}

func handleImage(_ context.Context, request mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args, err := toolArgs(request, "color")
	if err != nil {
		return invalidArguments(request.Params.Name, err), nil
	}
	name, err := enumArg(args, "color", "red", "red", "green", "blue")
	if err != nil {
		return invalidArguments(request.Params.Name, err), nil
	}
	data, err := ImagePNG(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", request.Params.Name, err)
	}
	return &mcp.CallToolResult{
		Content: []mcp.Content{
			mcp.NewImageContent(base64.StdEncoding.EncodeToString(data), "image/png"),
		},
	}, nil
}

// ImagePNG returns the PNG the image tool returns for a colour name ("red",
// "green" or "blue"): ImageSize by ImageSize pixels of that colour.
func ImagePNG(colorName string) ([]byte, error) {
	fill, ok := imageColor(colorName)
	if !ok {
		return nil, fmt.Errorf("unknown colour %q", colorName)
	}
	img := image.NewRGBA(image.Rect(0, 0, ImageSize, ImageSize))
	for y := range ImageSize {
		for x := range ImageSize {
			img.SetRGBA(x, y, fill)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}

// handleStructured returns limit search-like results for the query, as
// structured content and as the same JSON in a text block.
func handleStructured(_ context.Context, request mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args, err := toolArgs(request, "query", "tags")
	if err != nil {
		return invalidArguments(request.Params.Name, err), nil
	}
	out, err := structuredResult(args)
	if err != nil {
		return invalidArguments(request.Params.Name, err), nil
	}
	text, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("%s: encode result: %w", request.Params.Name, err)
	}
	return mcp.NewToolResultStructured(out, string(text)), nil
}

// structuredResult validates the structured tool's arguments and builds its
// output.
func structuredResult(args map[string]any) (StructuredOutput, error) {
	rawQuery, ok := args["query"]
	if !ok {
		return StructuredOutput{}, errors.New(`argument "query" is required`)
	}
	query, ok := rawQuery.(map[string]any)
	if !ok {
		return StructuredOutput{}, fmt.Errorf(`argument "query" must be an object, got %s`, jsonType(rawQuery))
	}
	if err := onlyKeys(query, []string{"text", "limit"}); err != nil {
		return StructuredOutput{}, fmt.Errorf("query: %w", err)
	}
	text, err := requiredString(query, "text")
	if err != nil {
		return StructuredOutput{}, fmt.Errorf("query: %w", err)
	}
	if text == "" {
		return StructuredOutput{}, errors.New(`query: argument "text" must not be empty`)
	}
	limit, err := intArg(query, "limit", 3, 1, 10)
	if err != nil {
		return StructuredOutput{}, fmt.Errorf("query: %w", err)
	}
	tags := []string{}
	if rawTags, ok := args["tags"]; ok {
		list, ok := rawTags.([]any)
		if !ok {
			return StructuredOutput{}, fmt.Errorf(`argument "tags" must be an array, got %s`, jsonType(rawTags))
		}
		if len(list) > 10 {
			return StructuredOutput{}, fmt.Errorf(`argument "tags" has %d items, at most 10 are allowed`, len(list))
		}
		for i, item := range list {
			tag, ok := item.(string)
			if !ok {
				return StructuredOutput{}, fmt.Errorf(`argument "tags"[%d] must be a string, got %s`, i, jsonType(item))
			}
			tags = append(tags, tag)
		}
	}
	out := StructuredOutput{Query: text, Total: int(limit), Results: make([]StructuredResult, 0, limit)}
	for rank := 1; rank <= int(limit); rank++ {
		out.Results = append(out.Results, StructuredResult{
			Rank:  rank,
			Title: fmt.Sprintf("%s #%d", text, rank),
			Tags:  tags,
		})
	}
	return out, nil
}

// handleControlAdd returns the handler of control_add_tool, which adds an
// echo tool to s.
func (s *Server) handleControlAdd() server.ToolHandlerFunc {
	return func(_ context.Context, request mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args, err := toolArgs(request, "name", "description")
		if err != nil {
			return invalidArguments(request.Params.Name, err), nil
		}
		name, err := requiredString(args, "name")
		if err != nil {
			return invalidArguments(request.Params.Name, err), nil
		}
		description, err := stringArg(args, "description", "Added at run time; returns the message argument unchanged.")
		if err != nil {
			return invalidArguments(request.Params.Name, err), nil
		}
		if err := s.AddTools(echoTool(name, description)); err != nil {
			return mcp.NewToolResultError(fmt.Sprintf("%s: %v", request.Params.Name, err)), nil
		}
		return mcp.NewToolResultText("added tool " + name), nil
	}
}

// handleControlRemove returns the handler of control_remove_tool, which
// removes a tool from s.
func (s *Server) handleControlRemove() server.ToolHandlerFunc {
	return func(_ context.Context, request mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		name, err := onlyString(request, "name")
		if err != nil {
			return invalidArguments(request.Params.Name, err), nil
		}
		if err := s.RemoveTools(name); err != nil {
			return mcp.NewToolResultError(fmt.Sprintf("%s: %v", request.Params.Name, err)), nil
		}
		return mcp.NewToolResultText("removed tool " + name), nil
	}
}
