package secret

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/storetest"
)

func randomKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
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
	if err := Check(ctx, a, keyA, "/data/a/secret.key"); err != nil {
		t.Fatalf("first key: %v", err)
	}
	if err := Check(ctx, b, keyA, EnvVar); err != nil {
		t.Fatalf("same key on the other handle: %v", err)
	}
	err := Check(ctx, b, keyB, "/data/b/secret.key")
	var mismatch *MismatchError
	if !errors.As(err, &mismatch) || mismatch.Source != "/data/b/secret.key" {
		t.Fatalf("another key: %v", err)
	}
	for _, want := range []string{"/data/b/secret.key", EnvVar, "same key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
	stored, ok, err := a.Setting(ctx, CheckSetting)
	if err != nil || !ok {
		t.Fatalf("check value not stored: %v", err)
	}
	for _, k := range [][]byte{keyA, keyB} {
		if strings.Contains(stored, hex.EncodeToString(k)) {
			t.Fatal("the store holds the key itself")
		}
	}
	// The recorded key still passes after a refusal.
	if err := Check(ctx, a, keyA, "/data/a/secret.key"); err != nil {
		t.Fatalf("first key again: %v", err)
	}
}

func TestSecretKeyCheckSQLite(t *testing.T) {
	st := storetest.NewStore(t)
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
			if Check(context.Background(), stores[i], keys[i], "k") == nil {
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

// TestCheckValueMatchesOldCode: a store whose check value was recorded by
// the code before this package accepts the same key and refuses another,
// so existing deployments start as before.
func TestCheckValueMatchesOldCode(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewStore(t)
	const recorded = "55222b4b467d4d49cdfc43737703afbab511c46c041f4a45f5b1488fb6c63024"
	if _, _, err := st.SetSettingIfAbsent(ctx, CheckSetting, recorded); err != nil {
		t.Fatal(err)
	}
	if err := Check(ctx, st, oldKey, EnvVar); err != nil {
		t.Fatalf("the key the check value was recorded with: %v", err)
	}
	if err := Check(ctx, st, randomKey(t), EnvVar); !errors.As(err, new(*MismatchError)) {
		t.Fatalf("another key: %v", err)
	}
}

// TestLoadCheckedGeneratesThenRefusesAnotherKey: the first start generates
// and records a key; a start whose key file was replaced is refused, naming
// the file.
func TestLoadCheckedGeneratesThenRefusesAnotherKey(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewStore(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	keyA, err := LoadChecked(ctx, st, dirA, "")
	if err != nil || len(keyA) != KeySize {
		t.Fatalf("first start: %x %v", keyA, err)
	}
	if _, err := LoadChecked(ctx, st, dirB, hex.EncodeToString(keyA)); err != nil {
		t.Fatalf("the same key from the environment: %v", err)
	}
	_, err = LoadChecked(ctx, st, dirB, "")
	var mismatch *MismatchError
	if !errors.As(err, &mismatch) || mismatch.Source != filepath.Join(dirB, keyFile) {
		t.Fatalf("a generated other key: %v", err)
	}
}
