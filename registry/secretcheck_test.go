package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/storetest"
)

func randomKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, SecretKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// testSecretKeyCheck: the first key checked against a store is recorded (as
// a check value, never the key); the same key passes again, any other key is
// refused with a message naming the key's source and JUNCTION_SECRET_KEY.
func testSecretKeyCheck(t *testing.T, a, b *store.Store) {
	ctx := context.Background()
	keyA, keyB := randomKey(t), randomKey(t)
	if err := CheckSecretKey(ctx, a, keyA, "/data/a/secret.key"); err != nil {
		t.Fatalf("first key: %v", err)
	}
	if err := CheckSecretKey(ctx, b, keyA, SecretKeyEnv); err != nil {
		t.Fatalf("same key on the other handle: %v", err)
	}
	err := CheckSecretKey(ctx, b, keyB, "/data/b/secret.key")
	var mismatch *SecretKeyMismatchError
	if !errors.As(err, &mismatch) || mismatch.Source != "/data/b/secret.key" {
		t.Fatalf("another key: %v", err)
	}
	for _, want := range []string{"/data/b/secret.key", SecretKeyEnv, "same key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
	stored, ok, err := a.Setting(ctx, SecretKeyCheckSetting)
	if err != nil || !ok {
		t.Fatalf("check value not stored: %v", err)
	}
	for _, k := range [][]byte{keyA, keyB} {
		if strings.Contains(stored, hex.EncodeToString(k)) {
			t.Fatal("the store holds the key itself")
		}
	}
	// The recorded key still passes after a refusal.
	if err := CheckSecretKey(ctx, a, keyA, "/data/a/secret.key"); err != nil {
		t.Fatalf("first key again: %v", err)
	}
}

func TestSecretKeyCheckSQLite(t *testing.T) {
	st := newStore(t)
	testSecretKeyCheck(t, st, st)
}

func TestSecretKeyCheckPostgres(t *testing.T) {
	db := storetest.PostgresFromEnv(t)(t)
	testSecretKeyCheck(t, storetest.OpenStore(t, db), storetest.OpenStore(t, db))
}

// TestSecretKeyCheckRace: replicas starting at once with different keys
// agree on one: exactly one of them passes.
func TestSecretKeyCheckRace(t *testing.T) {
	db := storetest.PostgresFromEnv(t)(t)
	const n = 8
	stores := make([]*store.Store, n)
	keys := make([][]byte, n)
	for i := range stores {
		stores[i], keys[i] = storetest.OpenStore(t, db), randomKey(t)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex // guards passed
		passed int
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if CheckSecretKey(context.Background(), stores[i], keys[i], "k") == nil {
				mu.Lock()
				passed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if passed != 1 {
		t.Fatalf("%d of %d different keys passed, want exactly 1", passed, n)
	}
}

func TestSecretKeySource(t *testing.T) {
	if got := SecretKeySource("/srv/junction", ""); got != "/srv/junction/secret.key" {
		t.Errorf("file source: %q", got)
	}
	if got := SecretKeySource("/srv/junction", "abc"); got != SecretKeyEnv {
		t.Errorf("env source: %q", got)
	}
}
