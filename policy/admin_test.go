package policy

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// memSettings is an in-memory SettingsStore.
type memSettings struct {
	mu sync.Mutex // guards m
	m  map[string]string
}

func (s *memSettings) Setting(_ context.Context, key string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok, nil
}

func (s *memSettings) SetSettingIfAbsent(_ context.Context, key, value string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[key]; ok {
		return v, false, nil
	}
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[key] = value
	return value, true, nil
}

func TestLoadAdminKeyConfigured(t *testing.T) {
	t.Parallel()
	st := &memSettings{}
	auth, gen, err := LoadAdminKey(context.Background(), st, "configured-admin-key-123")
	if err != nil || gen != "" {
		t.Fatalf("LoadAdminKey = %q, %v", gen, err)
	}
	if !auth.Verify("configured-admin-key-123") || auth.Verify("configured-admin-key-124") || auth.Verify("") {
		t.Fatal("Verify does not accept exactly the configured key")
	}
	if len(st.m) != 0 {
		t.Fatalf("a configured key must not be stored, got %v", st.m)
	}
}

func TestLoadAdminKeyGeneratedOnceAndStoredHashed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &memSettings{}
	auth, key, err := LoadAdminKey(ctx, st, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, AdminKeyPrefix) || len(key) < len(AdminKeyPrefix)+43 {
		t.Fatalf("generated key %q has the wrong form", key)
	}
	if !auth.Verify(key) {
		t.Fatal("generated key does not verify")
	}
	for _, v := range st.m {
		if strings.Contains(v, key) || strings.Contains(v, key[len(AdminKeyPrefix):]) {
			t.Fatal("the store holds the plaintext key")
		}
	}
	// A restart reuses the stored hash and shows nothing.
	auth2, again, err := LoadAdminKey(ctx, st, "")
	if err != nil || again != "" {
		t.Fatalf("second start: %q, %v", again, err)
	}
	if !auth2.Verify(key) {
		t.Fatal("restart lost the admin key")
	}
}

func TestLoadAdminKeyConcurrentStartsAgree(t *testing.T) {
	t.Parallel()
	st := &memSettings{}
	const n = 8
	var (
		wg   sync.WaitGroup
		keys = make([]string, n)
		auth = make([]*AdminAuth, n)
	)
	for i := range n {
		wg.Go(func() {
			a, k, err := LoadAdminKey(context.Background(), st, "")
			if err != nil {
				t.Error(err)
			}
			auth[i], keys[i] = a, k
		})
	}
	wg.Wait()
	var shown []string
	for _, k := range keys {
		if k != "" {
			shown = append(shown, k)
		}
	}
	if len(shown) != 1 {
		t.Fatalf("%d replicas showed a key, want exactly 1", len(shown))
	}
	for i, a := range auth {
		if !a.Verify(shown[0]) {
			t.Fatalf("replica %d does not accept the shown key", i)
		}
	}
}

func TestLoadAdminKeyCorruptHash(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"", "zz", strings.Repeat("ab", 33), strings.Repeat("g", 64)} {
		st := &memSettings{m: map[string]string{adminKeySetting: v}}
		if _, _, err := LoadAdminKey(context.Background(), st, ""); err == nil {
			t.Errorf("hash %q: want an error", v)
		}
	}
}
