-- +goose Up
-- One lease per (domain, filter): the run holding it is the only one that may commit windows
-- of that checkpoint. A lease is a row, not a session advisory lock, so that it needs no
-- connection held open for the whole run (connections are a budget, and a transaction-pooling
-- proxy cannot keep a session), and so that a window's commit can check it in the same
-- transaction: a run whose lease expired or was taken over commits nothing.
CREATE TABLE sync_leases (
    domain       text        NOT NULL,
    filter_key   text        NOT NULL,
    token        text        NOT NULL, -- random, per acquisition: only its holder renews or releases it
    holder       text        NOT NULL, -- who holds it, for operators: host, pid, run id
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (domain, filter_key)
);

-- +goose Down
DROP TABLE sync_leases;
