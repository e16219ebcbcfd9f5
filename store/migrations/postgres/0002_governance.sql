-- 0002_governance: what the governance layer keeps — named configuration
-- objects, Casbin policy rules and the usage ledger.

-- resources holds named configuration objects of every kind (teams, virtual
-- keys, prices, ...): spec is JSON owned by the caller, kept as TEXT (not
-- JSONB) so it reads back byte for byte; source is 'file' for entries seeded
-- from the config file and 'api' for the rest.
CREATE TABLE resources (
    kind       TEXT        NOT NULL,
    id         TEXT        NOT NULL,
    name       TEXT        NOT NULL,
    spec       TEXT        NOT NULL,
    source     TEXT        NOT NULL CHECK (source IN ('file', 'api')),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, id),
    UNIQUE (kind, name)
);

-- policy_rules holds Casbin rules, one row per (ptype, v0..v5).
CREATE TABLE policy_rules (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ptype      TEXT        NOT NULL,
    v0         TEXT        NOT NULL DEFAULT '',
    v1         TEXT        NOT NULL DEFAULT '',
    v2         TEXT        NOT NULL DEFAULT '',
    v3         TEXT        NOT NULL DEFAULT '',
    v4         TEXT        NOT NULL DEFAULT '',
    v5         TEXT        NOT NULL DEFAULT '',
    source     TEXT        NOT NULL CHECK (source IN ('file', 'api')),
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (ptype, v0, v1, v2, v3, v4, v5)
);

-- usage is the ledger of metered calls, one row per LLM request or tool call.
-- cost_micros is in millionths of a US dollar.
CREATE TABLE usage (
    id                BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts                TIMESTAMPTZ NOT NULL,
    request_id        TEXT        NOT NULL DEFAULT '',
    key_id            TEXT        NOT NULL DEFAULT '',
    key_name          TEXT        NOT NULL DEFAULT '',
    team              TEXT        NOT NULL DEFAULT '',
    customer          TEXT        NOT NULL DEFAULT '',
    kind              TEXT        NOT NULL DEFAULT '',
    model             TEXT        NOT NULL DEFAULT '',
    server            TEXT        NOT NULL DEFAULT '',
    tool              TEXT        NOT NULL DEFAULT '',
    prompt_tokens     BIGINT      NOT NULL DEFAULT 0,
    completion_tokens BIGINT      NOT NULL DEFAULT 0,
    cached_tokens     BIGINT      NOT NULL DEFAULT 0,
    cost_micros       BIGINT      NOT NULL DEFAULT 0,
    status            TEXT        NOT NULL DEFAULT '',
    duration_ms       BIGINT      NOT NULL DEFAULT 0
);
CREATE INDEX usage_ts ON usage (ts);
CREATE INDEX usage_key_ts ON usage (key_id, ts);
CREATE INDEX usage_team_ts ON usage (team, ts);
