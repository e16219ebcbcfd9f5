package testkit

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestClockAdvancesAndRecordsSleeps(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(start)
	c.Advance(time.Minute)
	if err := c.Sleep(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Now(), start.Add(time.Minute+time.Second); !got.Equal(want) {
		t.Errorf("Now = %v, want %v", got, want)
	}
	if got := c.Sleeps(); !slices.Equal(got, []time.Duration{time.Second}) {
		t.Errorf("Sleeps = %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err == nil {
		t.Error("Sleep on a done context succeeded")
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Errorf("Set: Now = %v", c.Now())
	}
}

func TestEventuallyWaitsForAnotherGoroutine(t *testing.T) {
	t.Parallel()
	var done atomic.Bool
	go func() {
		time.Sleep(20 * time.Millisecond)
		done.Store(true)
	}()
	Eventually(t, 5*time.Second, "the flag", done.Load)
}

func TestCheckGoldenComparesBytes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "case.golden.json")
	if err := os.WriteFile(path, []byte("{\n  \"a\": 1\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	CheckGolden(t, path, IndentJSON(t, []byte(`{"a":1}`)))
}

func TestGoldenCasesLeaveOutGoldenFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"a.json", "a.golden.json", "b.json", "c.sse"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var ran []string
	RunGoldenCases(t, dir, ".json", func(t *testing.T, in string) {
		ran = append(ran, filepath.Base(in)+"="+string(ReadFile(t, in)))
	})
	if len(ran) != 2 || ran[0] != "a.json=a.json" || ran[1] != "b.json=b.json" {
		t.Errorf("cases %v, want a.json and b.json", ran)
	}
	if got := GoldenPath(filepath.Join("d", "a.json"), ".upstream.json"); got != filepath.Join("d", "a.golden.upstream.json") {
		t.Errorf("GoldenPath = %s", got)
	}
}

func TestSyncBuffer(t *testing.T) {
	t.Parallel()
	var b SyncBuffer
	_, _ = b.Write([]byte("a"))
	_, _ = b.Write([]byte("b"))
	if b.String() != "ab" {
		t.Errorf("String = %q", b.String())
	}
}
