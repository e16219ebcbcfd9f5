// Command mcpbench measures what Junction's MCP federation adds to a tool
// call: the same echo tool called directly on a streamable-HTTP upstream
// (registry/mcptest) and through Junction's /mcp with a virtual key
// (authentication, policy, meter, audit and the upstream hop), one after the
// other in one run, at concurrency 1 (latency) and 50 (throughput); and
// tools/list through Junction federating 20 upstreams with 50 tools each.
//
// Everything runs in this one process on loopback (the upstreams, the
// gateway and the clients share the machine's cores), so compare the
// numbers of one run only.
//
//	cd bench && go run ./mcpbench -duration 10s
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/gateway"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/registry/mcptest"
)

func main() {
	duration := flag.Duration("duration", 10*time.Second, "measured time per case")
	concurrency := flag.Int("concurrency", 50, "clients for the throughput case")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mcpbench:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*duration, *concurrency); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "mcpbench:", err)
		os.Exit(1)
	}
}

func run(duration time.Duration, conc int) error {
	ctx := context.Background()
	up, err := startUpstream(mcptest.WithName("echo"))
	if err != nil {
		return err
	}
	defer up.Close()
	var lists []*mcptest.HTTPServer
	servers := []registry.ServerConfig{{Name: "up", Transport: registry.TransportStreamableHTTP, URL: up.URL}}
	for i := range 20 {
		s, err := startUpstream(mcptest.WithName(fmt.Sprintf("many%02d", i)), mcptest.WithGeneratedTools(50), mcptest.WithTools())
		if err != nil {
			return err
		}
		defer s.Close()
		lists = append(lists, s)
		servers = append(servers, registry.ServerConfig{Name: fmt.Sprintf("many%02d", i), Transport: registry.TransportStreamableHTTP, URL: s.URL})
	}
	dir, err := os.MkdirTemp("", "mcpbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := gateway.Config{DataDir: dir, AdminKey: "mcpbench-admin-key-0123456789", Servers: servers}
	cfg.Log.Level = "error"
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: zerolog.Nop(), Terminal: io.Discard})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = g.Serve(ln) }()
	defer g.Shutdown(context.Background())
	_, key, err := g.Policy().CreateKey(ctx, policy.KeyInput{Name: "bench", Limits: policy.Limits{ToolCallsPerMin: 1 << 40}})
	if err != nil {
		return err
	}
	junctionURL := "http://" + ln.Addr().String() + "/mcp"

	// Wait until every upstream's tools are federated.
	probe, err := connect(junctionURL, key)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := probe.ListTools(ctx, mcpgo.ListToolsRequest{})
		if err == nil && len(res.Tools) >= 1000 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("federated catalog incomplete after 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	fmt.Printf("mcpbench — %s per case, in one process on loopback\n\n", duration)
	fmt.Println("| case | target | calls | calls/s | p50 | p90 | p99 | max |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|")
	echo := func(c *client.Client, name string) error {
		req := mcpgo.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = name, map[string]any{"message": "hello from the benchmark"}
		r, err := c.CallTool(ctx, req)
		if err == nil && r.IsError {
			err = fmt.Errorf("tool error")
		}
		return err
	}
	var c1 [2]stats
	for i, t := range []struct{ name, url, key, tool string }{
		{"direct", up.URL, "", "echo"},
		{"junction", junctionURL, key, "up__echo"},
	} {
		st, err := load(1, duration, t.url, t.key, func(c *client.Client) error { return echo(c, t.tool) })
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		c1[i] = st
		st.row("tools/call, concurrency 1", t.name)
		st, err = load(conc, duration, t.url, t.key, func(c *client.Client) error { return echo(c, t.tool) })
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		st.row(fmt.Sprintf("tools/call, concurrency %d", conc), t.name)
	}
	st, err := load(1, duration, junctionURL, key, func(c *client.Client) error {
		res, err := c.ListTools(ctx, mcpgo.ListToolsRequest{})
		if err == nil && len(res.Tools) < 1000 {
			err = fmt.Errorf("only %d tools", len(res.Tools))
		}
		return err
	})
	if err != nil {
		return err
	}
	st.row("tools/list, 20 upstreams × 50 tools (1,000 tools + 7)", "junction")
	fmt.Printf("\nadded by junction at concurrency 1: p50 +%v, p99 +%v\n",
		(c1[1].pct(50) - c1[0].pct(50)).Round(time.Microsecond), (c1[1].pct(99) - c1[0].pct(99)).Round(time.Microsecond))
	_ = lists
	return nil
}

func startUpstream(opts ...mcptest.Option) (*mcptest.HTTPServer, error) {
	s, err := mcptest.NewServer(opts...)
	if err != nil {
		return nil, err
	}
	return s.StartHTTP(mcptest.HTTPConfig{Addr: "127.0.0.1:0"})
}

func connect(url, key string) (*client.Client, error) {
	var opts []transport.StreamableHTTPCOption
	if key != "" {
		opts = append(opts, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + key}))
	}
	tr, err := transport.NewStreamableHTTP(url, opts...)
	if err != nil {
		return nil, err
	}
	c := client.NewClient(tr)
	if err := c.Start(context.Background()); err != nil {
		return nil, err
	}
	req := mcpgo.InitializeRequest{}
	req.Params.ClientInfo = mcpgo.Implementation{Name: "mcpbench", Version: "1"}
	req.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
	if _, err := c.Initialize(context.Background(), req); err != nil {
		return nil, err
	}
	return c, nil
}

type stats struct {
	lat     []time.Duration
	elapsed time.Duration
}

// load runs op from n clients for d and collects every latency.
func load(n int, d time.Duration, url, key string, op func(*client.Client) error) (stats, error) {
	clients := make([]*client.Client, n)
	for i := range clients {
		c, err := connect(url, key)
		if err != nil {
			return stats{}, err
		}
		defer c.Close()
		clients[i] = c
	}
	// Warm up.
	for _, c := range clients {
		if err := op(c); err != nil {
			return stats{}, err
		}
	}
	var (
		mu   sync.Mutex
		all  []time.Duration
		wg   sync.WaitGroup
		ferr error
	)
	start := time.Now()
	end := start.Add(d)
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for time.Now().Before(end) {
				t0 := time.Now()
				if err := op(c); err != nil {
					mu.Lock()
					ferr = err
					mu.Unlock()
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(all)
	return stats{lat: all, elapsed: time.Since(start)}, ferr
}

func (s stats) pct(p float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	i := int(float64(len(s.lat))*p/100+0.5) - 1
	return s.lat[max(0, min(i, len(s.lat)-1))]
}

func (s stats) row(name, target string) {
	fmt.Printf("| %s | %s | %d | %.0f | %v | %v | %v | %v |\n", name, target, len(s.lat), float64(len(s.lat))/s.elapsed.Seconds(),
		s.pct(50).Round(time.Microsecond), s.pct(90).Round(time.Microsecond), s.pct(99).Round(time.Microsecond),
		s.lat[len(s.lat)-1].Round(time.Microsecond))
}
