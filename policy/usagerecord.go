package policy

import (
	"time"

	"github.com/junctionhq/junction/store"
)

// usageEntry is a usage record as the meter queues it on the usage writer
// (telemetry.UsageWriter): the identity stands in for the key and team
// fields, and the writer builds the store's record off the request path. It
// is smaller than a store.UsageRecord and holds fewer pointers, so queueing
// it copies less, a full buffer takes less memory, and it costs fewer write
// barriers.
type usageEntry struct {
	id        *Identity
	unixMicro int64 // when the call was made
	duration  time.Duration
	kind      Kind
	requestID string
	model     string // empty for a tool call
	server    string
	tool      string
	status    string
	usage     [3]int64 // prompt, completion and cached tokens
	micros    int64
}

// record is the store's record of u, with ID id.
func (u *usageEntry) record(id string) store.UsageRecord {
	return store.UsageRecord{
		ID: id, Time: time.UnixMicro(u.unixMicro).UTC(), RequestID: u.requestID,
		KeyID: u.id.KeyID(), KeyName: u.id.Name(), Team: u.id.TeamName(), Customer: u.id.Customer(), Kind: string(u.kind),
		Model: u.model, Server: u.server, Tool: u.tool, PromptTokens: u.usage[0], CompletionTokens: u.usage[1],
		CachedTokens: u.usage[2], CostMicros: u.micros, Status: u.status, Duration: u.duration,
	}
}
