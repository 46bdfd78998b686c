-- +goose Up
-- callback_records: one row per archived callback, partitioned by month on callback_time.
-- Monthly partitions (callback_records_yYYYYmMM) are created on demand by the loader; there is
-- no DEFAULT partition, so a row can never land somewhere nobody looks.
CREATE TABLE callback_records (
    domain               text        NOT NULL,
    app                  text        NOT NULL,
    stream               text        NOT NULL,
    event_type           text        NOT NULL,
    callback_time        timestamptz NOT NULL,
    method               text        NOT NULL,
    address              text        NOT NULL,
    status               text        NOT NULL,
    request_body         text        NOT NULL,
    request_body_json    jsonb,
    response_code        integer,
    response_status_line text,
    response_headers     jsonb       NOT NULL DEFAULT '{}',
    response_body        text        NOT NULL,
    response_body_json   jsonb,
    response_time        timestamptz,
    latency_ms           bigint,
    error_code           text        NOT NULL,
    error_message        text        NOT NULL,
    raw                  jsonb       NOT NULL,
    raw_original         bytea,
    sanitized            boolean     NOT NULL DEFAULT false,
    identity_hash        bytea       NOT NULL,
    ordinal              integer     NOT NULL,
    content_hash         bytea       NOT NULL,
    rules_version        smallint    NOT NULL,
    first_seen_at        timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT callback_records_key UNIQUE (domain, callback_time, identity_hash, ordinal)
) PARTITION BY RANGE (callback_time);

COMMENT ON TABLE callback_records IS 'One row per archived Volcengine Live callback; identity is (domain, callback_time, identity_hash, ordinal).';
COMMENT ON COLUMN callback_records.identity_hash IS 'sha256 of (domain, app, stream, event_type, callback_time, method, address, request_body)';
COMMENT ON COLUMN callback_records.ordinal IS '0-based number among records with the same identity, ordered by content_hash';
COMMENT ON COLUMN callback_records.content_hash IS 'sha256 of all 15 API fields as received';
COMMENT ON COLUMN callback_records.raw_original IS 'exact bytes of the record as received, only when sanitized (NUL or invalid UTF-8 replaced)';

-- Per (domain, filter) progress of the incremental sync.
CREATE TABLE sync_checkpoints (
    domain      text        NOT NULL,
    filter_key  text        NOT NULL DEFAULT '',
    filter      jsonb       NOT NULL DEFAULT '{}',
    first_start timestamptz NOT NULL,
    watermark   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (domain, filter_key)
);

-- One row per run and domain.
CREATE TABLE sync_runs (
    id                bigserial   PRIMARY KEY,
    run_id            text        NOT NULL,
    command           text        NOT NULL,
    domain            text        NOT NULL,
    filter_key        text        NOT NULL DEFAULT '',
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    outcome           text        NOT NULL DEFAULT 'running',
    window_start      timestamptz,
    window_end        timestamptz,
    records_new       bigint      NOT NULL DEFAULT 0,
    records_updated   bigint      NOT NULL DEFAULT 0,
    records_unchanged bigint      NOT NULL DEFAULT 0,
    records_rejected  bigint      NOT NULL DEFAULT 0,
    requests          bigint      NOT NULL DEFAULT 0,
    retries           bigint      NOT NULL DEFAULT 0,
    error             text,
    UNIQUE (run_id, domain, filter_key)
);
CREATE INDEX sync_runs_domain_started ON sync_runs (domain, started_at DESC);

-- Time ranges that could not be archived, and why.
CREATE TABLE sync_gaps (
    domain      text        NOT NULL,
    filter_key  text        NOT NULL DEFAULT '',
    gap_start   timestamptz NOT NULL,
    gap_end     timestamptz NOT NULL,
    reason      text        NOT NULL,
    run_id      text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (domain, filter_key, gap_start, reason)
);

-- Records that cannot go into callback_records (for example an unparseable CallbackTime). One
-- row per distinct record as received; copies says how many identical copies the API holds (k
-- identical unparseable records are one row with copies = k, so none is lost). A re-read that
-- finds the same reason and copies writes nothing.
CREATE TABLE callback_rejects (
    domain        text        NOT NULL,
    reject_hash   bytea       NOT NULL,
    raw           bytea       NOT NULL,
    raw_text      text        NOT NULL,
    reason        text        NOT NULL,
    copies        integer     NOT NULL DEFAULT 1,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    first_run_id  text        NOT NULL,
    last_run_id   text        NOT NULL,
    PRIMARY KEY (domain, reject_hash)
);
COMMENT ON COLUMN callback_rejects.raw IS 'the record exactly as received';
COMMENT ON COLUMN callback_rejects.raw_text IS 'raw as text, NUL and invalid UTF-8 replaced by U+FFFD';
COMMENT ON COLUMN callback_rejects.copies IS 'identical copies of this record in the API, as of the last read that changed the row';
COMMENT ON COLUMN callback_rejects.updated_at IS 'when reason or copies last changed (last_run_id: the run that changed them)';

-- +goose Down
DROP TABLE callback_rejects;
DROP TABLE sync_gaps;
DROP TABLE sync_runs;
DROP TABLE sync_checkpoints;
DROP TABLE callback_records;
