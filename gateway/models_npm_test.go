package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sdkModelsScript asks the gateway for models with the official SDKs, the
// way applications do, and prints what they returned as JSON.
const sdkModelsScript = `
const OpenAI = require("openai");
const Anthropic = require("@anthropic-ai/sdk");
const base = process.env.GATEWAY_URL, key = process.env.GATEWAY_KEY;
(async () => {
	const openai = new OpenAI({ baseURL: base + "/v1", apiKey: key, maxRetries: 0 });
	const model = await openai.models.retrieve("mock/gpt-4o-mini");
	let missing = "";
	try { await openai.models.retrieve("mock/gpt-9"); } catch (e) { missing = e.status + " " + e.code; }

	const anthropic = new Anthropic({ baseURL: base, apiKey: key, maxRetries: 0 });
	const listed = [];
	for await (const m of anthropic.models.list({ limit: 1 })) listed.push(m.id); // one model a page
	const first = (await anthropic.models.list()).data;
	const one = await anthropic.models.retrieve(listed[1]);
	console.log(JSON.stringify({ model, missing, listed, first: first.map(m => m.id), one }));
})().catch(e => { console.error(e); process.exit(1); });
`

func TestModelsWithSDKs(t *testing.T) {
	t.Parallel()
	n := needNPM(t)
	s := startLLM(t, nil)
	script := filepath.Join(t.TempDir(), "models.cjs")
	if err := os.WriteFile(script, []byte(sdkModelsScript), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.node, script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(n.dir, "node_modules"), "GATEWAY_URL="+s.gw.URL, "GATEWAY_KEY="+s.key)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node: %v\n%s", err, tail(stderr.String(), 4000))
	}
	var got struct {
		Model struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			OwnedBy string `json:"owned_by"`
		} `json:"model"`
		Missing string         `json:"missing"`
		Listed  []string       `json:"listed"`
		First   []string       `json:"first"`
		One     anthropicModel `json:"one"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("script output: %v\n%s", err, stdout.String())
	}
	if got.Model.ID != "mock/gpt-4o-mini" || got.Model.Object != "model" || got.Model.OwnedBy != "mock" {
		t.Errorf("openai models.retrieve: %+v", got.Model)
	}
	if got.Missing != "404 model_not_found" {
		t.Errorf("openai models.retrieve of an unknown model: %q", got.Missing)
	}
	all := "fast,mock/gpt-4o-mini,mock/text-embedding-3-small"
	if strings.Join(got.Listed, ",") != all || strings.Join(got.First, ",") != all {
		t.Errorf("anthropic models.list: paged %v, first page %v", got.Listed, got.First)
	}
	if got.One.Type != "model" || got.One.ID != "mock/gpt-4o-mini" || got.One.DisplayName != got.One.ID || got.One.CreatedAt == "" {
		t.Errorf("anthropic models.retrieve: %+v", got.One)
	}
}
