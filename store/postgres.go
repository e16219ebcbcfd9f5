package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// Postgres goes through pgx's database/sql adapter (pgx/v5/stdlib) rather than
// pgxpool: the store then has one *sql.DB code path for both drivers — the
// same queries, transactions and scanning — and the pgx features pgxpool adds
// (batches, COPY) are not needed yet. If they are, stdlib.OpenDBFromPool or
// sql.Conn.Raw reach the pgx connection without changing this type. LISTEN
// does not go through the pool at all: each change-feed subscription opens its
// own pgx connection from the same parsed configuration (see changes.go).
//
// Pool limits beyond max_conns are fixed here: idle connections are dropped
// after postgresConnMaxIdle, and every connection is replaced after
// postgresConnMaxLifetime so that server-side failovers and pgbouncer
// rebalancing take effect.
const (
	postgresConnMaxIdle     = 5 * time.Minute
	postgresConnMaxLifetime = 30 * time.Minute
	// postgresAppName is reported in pg_stat_activity unless the DSN sets
	// application_name itself.
	postgresAppName = "junction"
)

// openPostgres connects to the database cfg names and checks it answers.
func openPostgres(ctx context.Context, cfg PostgresConfig) (*Store, error) {
	connCfg, err := parsePostgresDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	if _, ok := connCfg.RuntimeParams["application_name"]; !ok {
		connCfg.RuntimeParams["application_name"] = postgresAppName
	}
	db := stdlib.OpenDB(*connCfg)
	maxConns := cfg.MaxConns
	if maxConns == 0 {
		maxConns = DefaultPostgresMaxConns
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(postgresConnMaxIdle)
	db.SetConnMaxLifetime(postgresConnMaxLifetime)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: postgres: connect to %s:%d/%s: %w", connCfg.Host, connCfg.Port, connCfg.Database, err)
	}
	return &Store{dialect: dialectPostgres, writer: db, reader: db, pgConfig: connCfg, now: time.Now}, nil
}
