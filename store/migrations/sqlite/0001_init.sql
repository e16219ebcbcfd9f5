-- 0001_init: small key/value facts the gateway keeps (e.g. the admin key hash).
-- Times are written by the store as UTC text ('YYYY-MM-DD HH:MM:SS.fffffffff+00:00').
CREATE TABLE settings (
    key        TEXT      NOT NULL PRIMARY KEY,
    value      TEXT      NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
