package agent

import (
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
)

func TestPendingAndDroppedCalls(t *testing.T) {
	call := func(id, name string) chat.ToolCall { return chat.ToolCall{ID: id, Name: name, Arguments: "{}"} }
	result := func(id string) chat.Message {
		m := chat.TextMessage(chat.RoleTool, "r")
		m.ToolCallID = id
		return m
	}
	assistant := func(calls ...chat.ToolCall) chat.Message {
		return chat.Message{Role: chat.RoleAssistant, ToolCalls: calls}
	}
	a := &Toolbox{byName: map[string]*Tool{"fs__read": {}}, callable: map[string]bool{"fs__read": true, "fs__write": true}}
	a.req = &chat.Request{Messages: []chat.Message{
		chat.TextMessage(chat.RoleUser, "q"),
		assistant(call("1", "fs__read"), call("2", "fs__write"), call("3", "client_fn")),
		result("3"),
		chat.TextMessage(chat.RoleUser, "next"),
		assistant(call("4", "fs__read"), call("5", "client_fn"), call("6", "fs__read")),
		result("5"),
	}}
	a.FillDropped()
	var ids []string
	for _, m := range a.req.Messages {
		ids = append(ids, m.Role+":"+m.ToolCallID)
	}
	// Calls 1 and 2 were run by Junction in an earlier request: they get a
	// placeholder; 3 was answered by the client; the last turn is left to
	// Pending.
	want := "user:,assistant:,tool:3,tool:1,tool:2,user:,assistant:,tool:5"
	if got := strings.Join(ids, ","); got != want {
		t.Errorf("messages %s, want %s", got, want)
	}
	pending := a.Pending()
	if len(pending) != 2 || pending[0].ID != "4" || pending[1].ID != "6" {
		t.Errorf("pending %+v", pending)
	}
}
