-- 0001_init: small key/value facts the gateway keeps (e.g. the admin key hash).
CREATE TABLE settings (
    key        TEXT        NOT NULL PRIMARY KEY,
    value      TEXT        NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
