package respcache

import (
	"strings"
	"testing"
)

// Cache keys live on in the stores (Redis, Qdrant) across restarts and
// upgrades: the same request must hash to the same keys from one version to
// the next, unless cacheKeyVersion is bumped. These pin the keys of requests
// whose JSON values take every path of the canonical encoding: nested and
// empty objects and arrays, repeated and escaped keys, escaped and non-ASCII
// strings, numbers as written, literals, and nesting past the encoder's
// bound (hashed as bytes).
func TestCacheKeyGolden(t *testing.T) {
	deep := strings.Repeat("[", 230) + "1" + strings.Repeat("]", 230)
	cases := []struct {
		name, format, body string
		want               Keys
	}{
		{"base", "openai", keyBase, Keys{Exact: "5cc2aef6bcce2da458d2dce3826debbb17814aa229635415d3a3610057edf674", Tools: "82572ed76db36ce37c622e9b085ad9dbd764d8ef615dc6b4580264fef17fa09c", Prompt: "what is the capital of France?", Context: "2e6a8dd4959449aa4e37a3873c31fb66527df0bf39e49bd87540d258307e96af"}},
		{"json values", "openai", `{"model":"m","messages":[{"role":"user","content":"q"}],` +
			`"tools":[{"type":"function","function":{"name":"t","parameters":{"type":"object","z":{},"a":[],"n":[1e3,-0.5,100.0,0,true,false,null],` +
			`"k\u00e9y":"v\"al\\ue\n\u00e9\ud83c\udf89","dup":1,"dup":2,"nested":{"b":{"c":[{"y":1,"x":2}]}},"ü":"日本"}}}],` +
			`"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"}}},"seed":7,"logit_bias":{"50256":-100,"1":5}}`,
			Keys{Exact: "52a4cfe915cbc53e0e780f1711230b2513487090e2b757e464a30b0b78835811", Tools: "941c2bcf0f279689f9880547e098ee05a908e7a6cf575c6c13e9161b197be88c", Prompt: "q", Context: "2a1790c36b525544e9e9defd35648c794e7320c5b1601d8d9f28eb2c29672fc6"}},
		{"deep", "openai", `{"model":"m","messages":[{"role":"user","content":"q"}],"x_deep":` + deep + `}`,
			Keys{Exact: "b925c43cb5e4bfd32a55d131227591c1bbec48d5790aa9a8f9015ecf188c80c7", Prompt: "q", Context: "7f737a1bcdd0954e278318a8fdb4a7b957bb6c343e703e946b17edb6c52bd7ce"}},
		{"anthropic tools", "anthropic", `{"model":"m","max_tokens":10,"system":"s","messages":[{"role":"user","content":"q"},` +
			`{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"t","input":{"b":[1,{"d":"e","c":null}],"a":"x"}}]},` +
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"}]}],` +
			`"tools":[{"name":"t","input_schema":{"type":"object","properties":{"b":{"type":"array"},"a":{"type":"string"}}}}],"top_k":5}`,
			Keys{Exact: "79b7a594f1db8a82dd7bdd3615fef70b49f21697d3e7e002cc82ff69321fe4c7", Tools: "ad9e757a759b1a6612c634a0c5581716c4a270322459aa00e835b66b62135c4c"}},
	}
	for _, c := range cases {
		var got Keys
		if c.format == "anthropic" {
			got = anthropicKeys(t, c.body)
		} else {
			got = openAIKeys(t, c.body)
		}
		if got != c.want {
			t.Errorf("%s: keys\n got %#v\nwant %#v", c.name, got, c.want)
		}
	}
}
