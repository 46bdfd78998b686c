-- +goose Up
-- callback_records becomes a view over callback_store, with the same columns and meaning as
-- the table it replaces (migration 00051 moved every row into callback_store). Computed here,
-- not stored: request_body_json and response_body_json (the body cast to jsonb when flags say
-- so, else what originals holds), latency_ms, sanitized, and raw (the 15 fields as received,
-- printed back from the columns). Unused computed columns cost nothing: the planner drops them.
DROP VIEW push_sessions;
DROP VIEW callback_failures;
DROP TABLE callback_records;

CREATE VIEW callback_records AS
SELECT domain, app, stream, event_type, callback_time, method, address, status,
       request_body,
       CASE WHEN flags & 16 <> 0 THEN request_body::jsonb
            ELSE (originals ->> '$request_body_json')::jsonb END AS request_body_json,
       response_code, response_status_line, response_headers, response_body,
       CASE WHEN flags & 32 <> 0 THEN response_body::jsonb
            ELSE (originals ->> '$response_body_json')::jsonb END AS response_body_json,
       response_time,
       trunc((extract(epoch FROM response_time) - extract(epoch FROM callback_time)) * 1000)::bigint AS latency_ms,
       error_code, error_message,
       jsonb_build_object(
           'Domain', cbarchive_original_text(originals, 'Domain', domain),
           'App', cbarchive_original_text(originals, 'App', app),
           'Stream', cbarchive_original_text(originals, 'Stream', stream),
           'CallbackTime', cbarchive_original_text(originals, 'CallbackTime', cbarchive_time_text(callback_time, flags & 3)),
           'CallbackEventType', cbarchive_original_text(originals, 'CallbackEventType', event_type),
           'CallbackMethod', cbarchive_original_text(originals, 'CallbackMethod', method),
           'CallbackAddress', cbarchive_original_text(originals, 'CallbackAddress', address),
           'CallbackStatus', cbarchive_original_text(originals, 'CallbackStatus', status),
           'CallbackBody', cbarchive_original_text(originals, 'CallbackBody', request_body),
           'CallbackResponseCode', cbarchive_original_text(originals, 'CallbackResponseCode', coalesce(response_code::text, '')),
           'CallbackResponseHeader', cbarchive_original_text(originals, 'CallbackResponseHeader', response_header),
           'CallbackResponseBody', cbarchive_original_text(originals, 'CallbackResponseBody', response_body),
           'CallbackResponseTime', cbarchive_original_text(originals, 'CallbackResponseTime', cbarchive_time_text(response_time, (flags >> 2) & 3)),
           'CallbackErrorCode', cbarchive_original_text(originals, 'CallbackErrorCode', error_code),
           'CallbackErrorMessage', cbarchive_original_text(originals, 'CallbackErrorMessage', error_message)) AS raw,
       flags & 64 <> 0 AS sanitized,
       identity_hash, ordinal, rules_version, first_seen_at, updated_at,
       response_header, flags, originals
FROM callback_store;

COMMENT ON VIEW callback_records IS
    'One row per archived Volcengine Live callback (a view over callback_store); identity is (domain, callback_time, identity_hash, ordinal)';

CREATE VIEW callback_failures AS
SELECT callback_time, domain, app, stream, event_type, method, address, status,
       response_code, response_status_line, error_code, error_message,
       left(response_body, 200) AS response_body_excerpt,
       response_time, latency_ms, identity_hash, ordinal
FROM callback_records
WHERE cbarchive_failed(status, response_code, error_code, error_message);

COMMENT ON VIEW callback_failures IS
    'Failed callbacks (cbarchive_failed): address, response code, status line, error fields as sent, first 200 characters of the response body';

CREATE VIEW push_sessions AS
SELECT s.domain, s.app, s.stream,
       s.callback_time AS started_at,
       CASE WHEN nx.event_type = 'push_end' THEN nx.callback_time END AS ended_at,
       CASE WHEN nx.event_type = 'push_end' THEN nx.callback_time - s.callback_time END AS duration,
       CASE WHEN nx.event_type = 'push_end'
            THEN extract(epoch FROM nx.callback_time - s.callback_time) END AS duration_s,
       CASE WHEN nx.event_type = 'push_start' THEN nx.callback_time END AS superseded_at,
       s.status AS start_status,
       CASE WHEN nx.event_type = 'push_end' THEN nx.status END AS end_status
FROM callback_records s
LEFT JOIN LATERAL (
    SELECT n.callback_time, n.event_type, n.status
    FROM callback_records n
    WHERE n.event_type IN ('push_start', 'push_end')
      AND n.domain = s.domain AND n.app = s.app AND n.stream = s.stream
      AND n.callback_time >= s.callback_time
      AND (n.callback_time > s.callback_time OR n.event_type = 'push_end')
    ORDER BY n.callback_time, n.event_type
    LIMIT 1
) nx ON true
WHERE s.event_type = 'push_start';

COMMENT ON VIEW push_sessions IS
    'Each push_start paired with the next push event of its stream: ended_at NULL = not ended (superseded_at set when a later push_start came first)';

GRANT SELECT ON callback_records, callback_failures, push_sessions TO cbarchive_reader;

COMMENT ON COLUMN callback_records_removed.record IS 'the removed row of callback_store (its stored form), every column, as jsonb';

-- +goose Down
-- The table of migrations 00001 and 00020, empty: migration 00051's down moves the rows back.
DROP VIEW push_sessions;
DROP VIEW callback_failures;
DROP VIEW callback_records;

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

CREATE INDEX callback_records_failed ON callback_records (callback_time)
    WHERE cbarchive_failed(status, response_code, error_code, error_message);
CREATE INDEX callback_records_push_stream ON callback_records (domain, app, stream, callback_time)
    WHERE event_type IN ('push_start', 'push_end');

CREATE VIEW callback_failures AS
SELECT callback_time, domain, app, stream, event_type, method, address, status,
       response_code, response_status_line, error_code, error_message,
       left(response_body, 200) AS response_body_excerpt,
       response_time, latency_ms, identity_hash, ordinal
FROM callback_records
WHERE cbarchive_failed(status, response_code, error_code, error_message);

COMMENT ON VIEW callback_failures IS
    'Failed callbacks (cbarchive_failed): address, response code, status line, error fields as sent, first 200 characters of the response body';

CREATE VIEW push_sessions AS
SELECT s.domain, s.app, s.stream,
       s.callback_time AS started_at,
       CASE WHEN nx.event_type = 'push_end' THEN nx.callback_time END AS ended_at,
       CASE WHEN nx.event_type = 'push_end' THEN nx.callback_time - s.callback_time END AS duration,
       CASE WHEN nx.event_type = 'push_end'
            THEN extract(epoch FROM nx.callback_time - s.callback_time) END AS duration_s,
       CASE WHEN nx.event_type = 'push_start' THEN nx.callback_time END AS superseded_at,
       s.status AS start_status,
       CASE WHEN nx.event_type = 'push_end' THEN nx.status END AS end_status
FROM callback_records s
LEFT JOIN LATERAL (
    SELECT n.callback_time, n.event_type, n.status
    FROM callback_records n
    WHERE n.event_type IN ('push_start', 'push_end')
      AND n.domain = s.domain AND n.app = s.app AND n.stream = s.stream
      AND n.callback_time >= s.callback_time
      AND (n.callback_time > s.callback_time OR n.event_type = 'push_end')
    ORDER BY n.callback_time, n.event_type
    LIMIT 1
) nx ON true
WHERE s.event_type = 'push_start';

COMMENT ON VIEW push_sessions IS
    'Each push_start paired with the next push event of its stream: ended_at NULL = not ended (superseded_at set when a later push_start came first)';

GRANT SELECT ON callback_records, callback_failures, push_sessions TO cbarchive_reader;

COMMENT ON COLUMN callback_records_removed.record IS 'the removed callback_records row, every column, as jsonb';
