-- +goose Up
-- callback_store: the archive's rows with every value stored once (issue 11). The analysts'
-- callback_records becomes a view over it (migration 00052); migration 00051 moves the rows.
-- What each column holds, and how the view derives raw, the *_json columns, latency_ms and
-- sanitized from them, is in transform/stored.go and README.md ("Tables").
-- Columns are ordered widest first so that no alignment padding is wasted.
CREATE TABLE callback_store (
    callback_time        timestamptz NOT NULL,
    identity_hash        bigint      NOT NULL, -- first 8 bytes of sha256 of the identity fields
    response_time        timestamptz,
    first_seen_at        timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    ordinal              integer     NOT NULL,
    response_code        integer,
    flags                smallint    NOT NULL, -- transform.Flag*: time layouts, JSON bodies, sanitized
    rules_version        smallint    NOT NULL,
    domain               text        NOT NULL,
    app                  text        NOT NULL,
    stream               text        NOT NULL,
    event_type           text        NOT NULL,
    method               text        NOT NULL,
    address              text        NOT NULL,
    status               text        NOT NULL,
    response_status_line text,
    response_headers     jsonb       NOT NULL DEFAULT '{}',
    error_code           text        NOT NULL,
    error_message        text        NOT NULL,
    response_header      text        NOT NULL,
    request_body         text        COMPRESSION lz4 NOT NULL,
    response_body        text        COMPRESSION lz4 NOT NULL,
    originals            jsonb       COMPRESSION lz4,
    CONSTRAINT callback_store_key UNIQUE (domain, callback_time, identity_hash, ordinal)
) PARTITION BY RANGE (callback_time);

COMMENT ON TABLE callback_store IS 'One row per archived callback, every value stored once; analysts query the view callback_records';
COMMENT ON COLUMN callback_store.identity_hash IS 'first 8 bytes (signed big-endian) of sha256 of (domain, app, stream, event_type, callback_time, method, address, request_body) as received';
COMMENT ON COLUMN callback_store.ordinal IS '0-based number among records with the same (domain, callback_time, identity_hash), ordered by a hash of all 15 fields';
COMMENT ON COLUMN callback_store.flags IS 'bits 0-1: layout printing callback_time back as CallbackTime; bits 2-3: the same for response_time; 16: request_body_json = request_body::jsonb; 32: response_body_json = response_body::jsonb; 64: sanitized';
COMMENT ON COLUMN callback_store.response_header IS 'CallbackResponseHeader as received (sanitized); response_status_line and response_headers are parsed from it';
COMMENT ON COLUMN callback_store.originals IS 'NULL for ordinary records; else what the columns cannot give back byte for byte: API field name -> text or {"base64": bytes}, "$received" -> the record as received, "$request_body_json"/"$response_body_json" -> a JSON column that is not the body cast to jsonb';

CREATE INDEX callback_store_failed ON callback_store (callback_time)
    WHERE cbarchive_failed(status, response_code, error_code, error_message);
CREATE INDEX callback_store_push_stream ON callback_store (domain, app, stream, callback_time)
    WHERE event_type IN ('push_start', 'push_end');

-- cbarchive_time_text prints a time with one of the layouts the flags column names; it is
-- transform.timeLayouts in SQL: 0 and 1 in +08:00, 2 and 3 in UTC ("Z"); 1 and 3 with
-- milliseconds. NULL prints as the empty text.
CREATE FUNCTION cbarchive_time_text(t timestamptz, layout integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN t IS NULL THEN '' ELSE
    to_char((t AT TIME ZONE 'UTC') + CASE WHEN layout < 2 THEN interval '8 hours' ELSE interval '0' END,
            CASE WHEN layout % 2 = 0 THEN 'YYYY-MM-DD"T"HH24:MI:SS' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.MS' END)
    || CASE WHEN layout < 2 THEN '+08:00' ELSE 'Z' END
END;

-- cbarchive_original_text is a field's text as received when originals holds it as text,
-- else the text the columns give (stored).
CREATE FUNCTION cbarchive_original_text(originals jsonb, field text, stored text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN jsonb_typeof(originals -> field) = 'string' THEN originals ->> field ELSE stored END;

-- +goose Down
DROP FUNCTION cbarchive_original_text(jsonb, text, text);
DROP FUNCTION cbarchive_time_text(timestamptz, integer);
DROP TABLE callback_store;
