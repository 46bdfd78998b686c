-- +goose Up
-- cbarchive_reader: the analysts' read-only role (NOLOGIN: grant it to login roles, e.g.
-- GRANT cbarchive_reader TO alice). Roles are cluster-wide, so the role is created only when
-- missing (a DBA may create it beforehand; then migrating needs no CREATEROLE) and its grants
-- are per database.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cbarchive_reader') THEN
        CREATE ROLE cbarchive_reader NOLOGIN;
    END IF;
EXCEPTION
    -- Another database's migration created it at the same moment.
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO cbarchive_reader', current_schema());
END
$$;
-- +goose StatementEnd

-- SELECT on the partitioned parent is enough to read every partition, present and future,
-- through it (partitions themselves are not granted: query the parent, pruning makes it as
-- fast). callback_rejects holds the same kind of data as callback_records (records as sent) and
-- tells analysts what could not be archived; sync_checkpoints gives the archive's lag.
-- Not granted: rate_budget_members (the pipeline's own coordination), goose_db_version.
GRANT SELECT ON callback_records, callback_rejects, sync_runs, sync_gaps, sync_checkpoints,
    callback_hourly, callback_failures, push_sessions, analytics_refresh_state
    TO cbarchive_reader;

-- +goose Down
-- Revokes in this database only; the role is dropped only when no other database still grants
-- it anything (roles are shared by the cluster's databases).
REVOKE SELECT ON callback_records, callback_rejects, sync_runs, sync_gaps, sync_checkpoints,
    callback_hourly, callback_failures, push_sessions, analytics_refresh_state
    FROM cbarchive_reader;

-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM cbarchive_reader', current_schema());
    BEGIN
        DROP ROLE cbarchive_reader;
    EXCEPTION
        WHEN dependent_objects_still_exist OR undefined_object THEN
            RAISE NOTICE 'cbarchive_reader kept: other databases or members still use it';
    END;
END
$$;
-- +goose StatementEnd
