package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/junctionhq/junction/llm/chat"
)

// Gemini's request and response shapes (v1beta GenerateContentRequest and
// GenerateContentResponse), with the fields Junction uses.

type generateRequest struct {
	Contents          []content         `json:"contents"`
	SystemInstruction *content          `json:"systemInstruction,omitempty"`
	Tools             []tool            `json:"tools,omitempty"`
	ToolConfig        *toolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *generationConfig `json:"generationConfig,omitempty"`
}

// content is one turn: role "user" or "model" (none in systemInstruction).
type content struct {
	Role  string `json:"role,omitempty"`
	Parts []part `json:"parts"`
}

// part is one member of Part's data oneof. Thought marks the model's
// thinking, which is not part of the answer.
type part struct {
	Text             string            `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	InlineData       *blob             `json:"inlineData,omitempty"`
	FileData         *fileData         `json:"fileData,omitempty"`
	FunctionCall     *functionCall     `json:"functionCall,omitempty"`
	FunctionResponse *functionResponse `json:"functionResponse,omitempty"`
}

type blob struct {
	MIMEType string `json:"mimeType"`
	Data     string `json:"data"` // base64
}

type fileData struct {
	MIMEType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

type functionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type functionResponse struct {
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type tool struct {
	FunctionDeclarations []functionDeclaration `json:"functionDeclarations"`
}

type functionDeclaration struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

type toolConfig struct {
	FunctionCallingConfig functionCallingConfig `json:"functionCallingConfig"`
}

type functionCallingConfig struct {
	Mode                 string   `json:"mode"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

type generationConfig struct {
	StopSequences    []string        `json:"stopSequences,omitempty"`
	ResponseMIMEType string          `json:"responseMimeType,omitempty"`
	ResponseSchema   json.RawMessage `json:"responseSchema,omitempty"`
	MaxOutputTokens  int64           `json:"maxOutputTokens,omitempty"`
	Temperature      *float64        `json:"temperature,omitempty"`
	TopP             *float64        `json:"topP,omitempty"`
}

// encodeRequest translates req to a GenerateContentRequest body.
//
//   - system and developer messages, wherever they are, become systemInstruction
//     (one text part each, in order);
//   - user messages become role "user" (text, images: a data: URL as inlineData,
//     another URL as fileData);
//   - assistant messages become role "model": the text, then one functionCall part
//     per tool call with the arguments parsed (arguments that are not a JSON object,
//     such as a truncated call echoed back, are sent as {});
//   - a run of tool messages becomes one role "user" content of functionResponse
//     parts, named after the call each answers (looked up by ToolCallID among the
//     earlier assistant tool calls, the latest first; the message's Name, then the id
//     itself, when it is not found). The response is the result when it is a JSON
//     object, else {"content": text}; a result marked IsError is wrapped as
//     {"error": ...}, the key Gemini reads for failures;
//   - tools become one tool of functionDeclarations, parameters cleaned to Gemini's
//     schema subset (see cleanParameters); tool_choice becomes
//     toolConfig.functionCallingConfig (auto AUTO, none NONE, required ANY, a
//     function ANY limited to it);
//   - max_tokens, temperature, top_p and stop go to generationConfig, and a
//     response_format of json_object or json_schema to responseMimeType (and
//     responseSchema).
//
// Empty messages are left out (Gemini rejects contents without parts). Not sent:
// user, parallel_tool_calls, image detail, cache_control and Extra fields, which
// have no Gemini counterpart. ToolCall ids are not sent either: Gemini matches
// responses to calls by order and name.
func encodeRequest(req *chat.Request) ([]byte, error) {
	g, err := buildRequest(req)
	if err != nil {
		return nil, err
	}
	return marshal(g, "gemini: encode request")
}

// marshal encodes v without HTML escaping and without the trailing newline;
// what prefixes an error ("gemini: encode request").
func marshal(v any, what string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// Gemini's roles.
const (
	roleUser  = "user"
	roleModel = "model"
)

// roleOf maps a canonical role to Gemini's: system reports that the message
// belongs in systemInstruction; ok is false for an unknown role.
func roleOf(role string) (geminiRole string, system, ok bool) {
	switch role {
	case chat.RoleSystem, chat.RoleDeveloper:
		return "", true, true
	case chat.RoleUser, chat.RoleTool:
		return roleUser, false, true
	case chat.RoleAssistant:
		return roleModel, false, true
	}
	return "", false, false
}

func buildRequest(req *chat.Request) (*generateRequest, error) {
	g := &generateRequest{Contents: make([]content, 0, len(req.Messages))}
	var system []part
	callNames := make(map[string]string) // tool call id → name, the latest call wins
	for i := range req.Messages {
		m := &req.Messages[i]
		role, isSystem, ok := roleOf(m.Role)
		if !ok {
			return nil, fmt.Errorf("gemini: messages[%d]: unknown role %q", i, m.Role)
		}
		switch {
		case isSystem:
			if text := m.Text(); text != "" {
				system = append(system, part{Text: text})
			}
		case m.Role == chat.RoleTool:
			name := callNames[m.ToolCallID]
			if name == "" {
				name = m.Name
			}
			if name == "" {
				name = m.ToolCallID
			}
			p := part{FunctionResponse: &functionResponse{Name: name, Response: toolResult(m.Text(), m.IsError)}}
			// Parallel results answer one model turn: they go in one content.
			if n := len(g.Contents); n > 0 && i > 0 && req.Messages[i-1].Role == chat.RoleTool {
				g.Contents[n-1].Parts = append(g.Contents[n-1].Parts, p)
			} else {
				g.Contents = append(g.Contents, content{Role: role, Parts: []part{p}})
			}
		default:
			parts, err := messageParts(m, role == roleModel)
			if err != nil {
				return nil, fmt.Errorf("gemini: messages[%d]: %w", i, err)
			}
			for _, c := range m.ToolCalls {
				callNames[c.ID] = c.Name
			}
			if len(parts) > 0 {
				g.Contents = append(g.Contents, content{Role: role, Parts: parts})
			}
		}
	}
	if len(system) > 0 {
		g.SystemInstruction = &content{Parts: system}
	}
	if err := addTools(g, req); err != nil {
		return nil, err
	}
	gc := &generationConfig{
		StopSequences:   req.Stop,
		MaxOutputTokens: req.MaxTokens,
		Temperature:     req.Temperature,
		TopP:            req.TopP,
	}
	if err := addResponseFormat(gc, req.ResponseFormat); err != nil {
		return nil, err
	}
	if gc.MaxOutputTokens > 0 || gc.Temperature != nil || gc.TopP != nil || len(gc.StopSequences) > 0 || gc.ResponseMIMEType != "" {
		g.GenerationConfig = gc
	}
	return g, nil
}

// messageParts returns the parts of a user or assistant message: text and
// images in order, then (for the model) its function calls.
func messageParts(m *chat.Message, model bool) ([]part, error) {
	parts := make([]part, 0, len(m.Content)+len(m.ToolCalls))
	for _, c := range m.Content {
		switch c.Type {
		case chat.PartText:
			if c.Text != "" {
				parts = append(parts, part{Text: c.Text})
			}
		case chat.PartImage:
			p, err := imagePart(c.ImageURL)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		}
	}
	if model {
		for _, c := range m.ToolCalls {
			parts = append(parts, part{FunctionCall: &functionCall{Name: c.Name, Args: callArgs(c.Arguments)}})
		}
	}
	return parts, nil
}

// callArgs returns a tool call's arguments as a JSON object: {} unless they
// are one.
func callArgs(arguments string) json.RawMessage {
	s := strings.TrimSpace(arguments)
	if strings.HasPrefix(s, "{") && json.Valid([]byte(s)) {
		var b bytes.Buffer
		if json.Compact(&b, []byte(s)) == nil {
			return b.Bytes()
		}
	}
	return json.RawMessage("{}")
}

// toolResult returns a functionResponse's response: the result if it is a
// JSON object, else {"content": text}; {"error": ...} around either for a
// failure.
func toolResult(text string, isError bool) json.RawMessage {
	var value json.RawMessage
	if s := strings.TrimSpace(text); strings.HasPrefix(s, "{") && json.Valid([]byte(s)) {
		var b bytes.Buffer
		if json.Compact(&b, []byte(s)) == nil {
			value = b.Bytes()
		}
	}
	key := "content"
	if isError {
		key = "error"
	}
	switch {
	case value != nil && !isError:
		return value
	case value != nil:
		return wrapJSON(key, value)
	default:
		str, _ := json.Marshal(text) // a string always marshals
		return wrapJSON(key, str)
	}
}

// wrapJSON returns {"key": value}.
func wrapJSON(key string, value json.RawMessage) json.RawMessage {
	out := make([]byte, 0, len(key)+len(value)+6)
	out = append(out, `{"`...)
	out = append(out, key...)
	out = append(out, `":`...)
	out = append(out, value...)
	return append(out, '}')
}

// imagePart turns an image URL into inlineData (a data: URL) or fileData
// (any other http(s) or gs:// URL, with the MIME type guessed from the
// extension when it is a common one).
func imagePart(raw string) (part, error) {
	if rest, ok := strings.CutPrefix(raw, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		if !ok {
			return part{}, fmt.Errorf("image: malformed data URL")
		}
		mimeType, isBase64 := strings.CutSuffix(meta, ";base64")
		mimeType, _, _ = strings.Cut(mimeType, ";") // drop parameters (charset)
		if mimeType == "" {
			mimeType = "text/plain" // RFC 2397's default
		}
		if isBase64 {
			if _, err := base64.StdEncoding.DecodeString(data); err != nil {
				return part{}, fmt.Errorf("image: data URL: %w", err)
			}
		} else {
			unescaped, err := url.PathUnescape(data)
			if err != nil {
				return part{}, fmt.Errorf("image: data URL: %w", err)
			}
			data = base64.StdEncoding.EncodeToString([]byte(unescaped))
		}
		return part{InlineData: &blob{MIMEType: mimeType, Data: data}}, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "gs") {
		return part{}, fmt.Errorf("image: want a data:, http(s) or gs:// URL, got %q", truncate(raw, 64))
	}
	return part{FileData: &fileData{MIMEType: imageTypes[strings.ToLower(path.Ext(u.Path))], FileURI: raw}}, nil
}

// imageTypes maps common file extensions to MIME types (fixed, so that the
// request does not depend on the system's MIME tables).
var imageTypes = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
	".gif": "image/gif", ".heic": "image/heic", ".heif": "image/heif", ".pdf": "application/pdf",
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// addTools sets the function declarations and the function calling mode.
func addTools(g *generateRequest, req *chat.Request) error {
	if len(req.Tools) == 0 {
		return nil
	}
	decls := make([]functionDeclaration, 0, len(req.Tools))
	for i, t := range req.Tools {
		params, err := cleanParameters(t.Parameters)
		if err != nil {
			return fmt.Errorf("gemini: tools[%d] (%s): parameters: %w", i, t.Name, err)
		}
		decls = append(decls, functionDeclaration{Name: t.Name, Description: t.Description, Parameters: params})
	}
	g.Tools = []tool{{FunctionDeclarations: decls}}
	if tc := req.ToolChoice; tc != nil {
		var fc functionCallingConfig
		switch tc.Mode {
		case chat.ToolChoiceAuto:
			fc.Mode = "AUTO"
		case chat.ToolChoiceNone:
			fc.Mode = "NONE"
		case chat.ToolChoiceRequired:
			fc.Mode = "ANY"
		case chat.ToolChoiceFunction:
			fc.Mode, fc.AllowedFunctionNames = "ANY", []string{tc.Name}
		default:
			return nil
		}
		g.ToolConfig = &toolConfig{FunctionCallingConfig: fc}
	}
	return nil
}

// addResponseFormat maps OpenAI's response_format: json_object asks for JSON,
// json_schema for JSON of the (cleaned) schema; text and anything else is
// left to the default.
func addResponseFormat(gc *generationConfig, raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	var rf struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	}
	if json.Unmarshal(raw, &rf) != nil {
		return nil
	}
	switch rf.Type {
	case "json_object":
		gc.ResponseMIMEType = "application/json"
	case "json_schema":
		gc.ResponseMIMEType = "application/json"
		if rf.JSONSchema != nil && len(rf.JSONSchema.Schema) > 0 {
			schema, err := cleanSchema(rf.JSONSchema.Schema)
			if err != nil {
				return fmt.Errorf("gemini: response_format.json_schema.schema: %w", err)
			}
			gc.ResponseSchema = schema
		}
	}
	return nil
}
