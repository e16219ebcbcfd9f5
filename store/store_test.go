package store_test

import (
	"testing"

	"github.com/junctionhq/junction/store/storetest"
)

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.SQLite)
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.PostgresFromEnv(t))
}
