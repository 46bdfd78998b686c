-- +goose Up
-- The analysts' layer: what "failed" means, three relations that answer the usual questions
-- (callback_hourly, callback_failures, push_sessions), the refresh function of the hourly
-- rollup, and two partial indexes. docs/analysts.md is the guide.

-- A callback failed when Volcengine said so, when the receiver answered outside 2xx, or when the
-- API reported an error in either error field (they often look swapped, so both count).
-- A NULL response_code (no answer, or not an integer) alone is not a failure: a timeout has
-- status 'fail' and an error text. SQL function, inlined by the planner: a query filtering on
-- it can use the partial index callback_records_failed below.
CREATE FUNCTION cbarchive_failed(status text, response_code integer, error_code text, error_message text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN status = 'fail'
    OR coalesce(response_code NOT BETWEEN 200 AND 299, false)
    OR coalesce(error_code, '') <> ''
    OR coalesce(error_message, '') <> '';

COMMENT ON FUNCTION cbarchive_failed(text, integer, text, text) IS
    'true when a callback failed: status = ''fail'', or response_code present and outside 200..299, or a non-empty error_code or error_message';

-- Failed callbacks are ~1-10 % of rows: a partial index on their time is small, cheap to
-- maintain, and serves "what failed between X and Y" on every domain at once.
CREATE INDEX callback_records_failed ON callback_records (callback_time)
    WHERE cbarchive_failed(status, response_code, error_code, error_message);

-- Sessions pair a push_start with the next push event of the same stream: only push events are
-- indexed, in the order the pairing looks them up.
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

-- Each push_start with the next push event (start or end) of the same domain/app/stream at or
-- after it; an end at the same instant counts. When that next event is a push_end, it ends the
-- session; when it is another push_start, the session's end was never reported
-- (superseded_at); when there is none, the stream is still live or its end is not archived yet.
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

-- Hourly rollup, maintained by cbarchive_refresh_analytics(): a plain view would aggregate the
-- whole archive on every query (no partition pruning through date_trunc), see
-- analytics/BENCHMARKS.analytics.md.
CREATE TABLE callback_hourly (
    hour           timestamptz      NOT NULL, -- start of the UTC hour
    domain         text             NOT NULL,
    app            text             NOT NULL,
    event_type     text             NOT NULL,
    total          bigint           NOT NULL,
    failed         bigint           NOT NULL, -- cbarchive_failed(...)
    failure_rate   double precision NOT NULL, -- failed / total
    latency_p50_ms double precision,          -- percentile_cont over non-NULL latency_ms; NULL when none
    latency_p95_ms double precision,
    latency_p99_ms double precision,
    streams        bigint           NOT NULL, -- distinct streams
    PRIMARY KEY (domain, hour, app, event_type)
);
CREATE INDEX callback_hourly_hour ON callback_hourly (hour);

COMMENT ON TABLE callback_hourly IS
    'Per UTC hour, domain, app and event type: totals, failures, latency percentiles, distinct streams. Refreshed by cbarchive_refresh_analytics()';

CREATE TABLE analytics_refresh_state (
    name               text        PRIMARY KEY,
    refresh_started_at timestamptz NOT NULL, -- transaction start of the last refresh
    refreshed_at       timestamptz NOT NULL, -- when it finished
    mode               text        NOT NULL, -- rebuild, range or incremental
    rows_written       bigint      NOT NULL
);

-- cbarchive_refresh_analytics brings callback_hourly up to date and returns the number of
-- rollup rows it wrote.
--   ()                               recompute the hours touched by sync/backfill runs since the
--                                    last refresh (sync_runs windows with new or updated
--                                    records, and runs still going); the first call rebuilds.
--   (rebuild => true)                recompute everything (after renormalize or a manual fix).
--   (from_time => a, to_time => b)   recompute the UTC hours overlapping [a, b].
-- Refreshes are serialized by an advisory lock; readers are never blocked.
-- +goose StatementBegin
CREATE FUNCTION cbarchive_refresh_analytics(
    rebuild boolean DEFAULT false, from_time timestamptz DEFAULT NULL, to_time timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET jit = off
AS $fn$
DECLARE
    prev    analytics_refresh_state;
    v_mode  text;
    v_rows  bigint := 0;
    v_n     bigint;
    r       record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('cbarchive_refresh_analytics'));
    SELECT * INTO prev FROM analytics_refresh_state WHERE name = 'callback_hourly';

    IF from_time IS NOT NULL OR to_time IS NOT NULL THEN
        IF from_time IS NULL OR to_time IS NULL OR to_time < from_time THEN
            RAISE EXCEPTION 'cbarchive_refresh_analytics: from_time and to_time go together, from_time <= to_time';
        END IF;
        v_mode := 'range';
    ELSIF rebuild OR prev.name IS NULL THEN
        v_mode := 'rebuild';
    ELSE
        v_mode := 'incremental';
    END IF;

    -- One path for every mode: the ranges to recompute, per domain (NULL: every domain).
    FOR r IN
        SELECT x.domain, lower(x.rg) AS lo, upper(x.rg) AS hi
        FROM (
            SELECT d.domain, unnest(range_agg(tstzrange(
                       date_trunc('hour', d.lo, 'UTC'),
                       date_trunc('hour', d.hi, 'UTC') + interval '1 hour'))) AS rg
            FROM (
                SELECT NULL::text AS domain, '-infinity'::timestamptz AS lo, 'infinity'::timestamptz AS hi
                WHERE v_mode = 'rebuild'
                UNION ALL
                SELECT NULL::text, from_time, to_time
                WHERE v_mode = 'range'
                UNION ALL
                SELECT sr.domain, sr.window_start, sr.window_end
                FROM sync_runs sr
                WHERE v_mode = 'incremental'
                  AND sr.window_start IS NOT NULL AND sr.window_end IS NOT NULL
                  AND ((sr.finished_at IS NULL AND sr.started_at > now() - interval '1 day')
                       OR (sr.finished_at >= prev.refresh_started_at - interval '1 minute'
                           AND sr.records_new + sr.records_updated > 0))
            ) d
            GROUP BY d.domain
        ) x
    LOOP
        DELETE FROM callback_hourly h
        WHERE (r.domain IS NULL OR h.domain = r.domain) AND h.hour >= r.lo AND h.hour < r.hi;
        INSERT INTO callback_hourly
        SELECT date_trunc('hour', callback_time, 'UTC'), domain, app, event_type,
               count(*),
               count(*) FILTER (WHERE cbarchive_failed(status, response_code, error_code, error_message)),
               count(*) FILTER (WHERE cbarchive_failed(status, response_code, error_code, error_message))::float8 / count(*),
               percentile_cont(0.50) WITHIN GROUP (ORDER BY latency_ms),
               percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms),
               percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms),
               count(DISTINCT stream)
        FROM callback_records c
        WHERE (r.domain IS NULL OR c.domain = r.domain)
          AND c.callback_time >= r.lo AND c.callback_time < r.hi
        GROUP BY 1, 2, 3, 4;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_rows := v_rows + v_n;
    END LOOP;

    INSERT INTO analytics_refresh_state (name, refresh_started_at, refreshed_at, mode, rows_written)
    -- A first refresh by range covered no runs: the next incremental one considers them all.
    VALUES ('callback_hourly', CASE WHEN v_mode = 'range' THEN '-infinity' ELSE now() END,
            clock_timestamp(), v_mode, v_rows)
    ON CONFLICT (name) DO UPDATE SET
        -- A range refresh says nothing about which runs were covered: keep the incremental mark.
        refresh_started_at = CASE WHEN v_mode = 'range' THEN analytics_refresh_state.refresh_started_at
                                  ELSE excluded.refresh_started_at END,
        refreshed_at = excluded.refreshed_at, mode = excluded.mode, rows_written = excluded.rows_written;
    RETURN v_rows;
END
$fn$;
-- +goose StatementEnd

COMMENT ON FUNCTION cbarchive_refresh_analytics(boolean, timestamptz, timestamptz) IS
    'Brings callback_hourly up to date: () incremental from sync_runs, (rebuild => true) everything, (from_time, to_time) a range. Returns rows written.';
REVOKE EXECUTE ON FUNCTION cbarchive_refresh_analytics(boolean, timestamptz, timestamptz) FROM PUBLIC;

-- +goose Down
DROP FUNCTION cbarchive_refresh_analytics(boolean, timestamptz, timestamptz);
DROP TABLE analytics_refresh_state;
DROP TABLE callback_hourly;
DROP VIEW push_sessions;
DROP VIEW callback_failures;
DROP INDEX callback_records_push_stream;
DROP INDEX callback_records_failed;
DROP FUNCTION cbarchive_failed(text, integer, text, text);
