-- +goose Up
-- callback_records_removed: rows a reconciling backfill (`cbarchive backfill --reconcile`) proved
-- extra and took out of callback_records: phantom copies left by an earlier faulty read. They
-- are moved here, never simply deleted, in the same transaction as the window's merge.
-- record is the removed row itself, every column, as jsonb (to_jsonb of the row), so that this
-- table keeps working whatever callback_records' storage layout; domain, callback_time and
-- ordinal are copied out of it for queries.
CREATE TABLE callback_records_removed (
    id            bigserial   PRIMARY KEY,
    domain        text        NOT NULL,
    callback_time timestamptz NOT NULL,
    ordinal       integer     NOT NULL,
    record        jsonb       NOT NULL,
    run_id        text        NOT NULL,
    reason        text        NOT NULL,
    removed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX callback_records_removed_domain_time ON callback_records_removed (domain, callback_time);
CREATE INDEX callback_records_removed_run ON callback_records_removed (run_id);

COMMENT ON TABLE callback_records_removed IS 'Rows a reconciling backfill proved extra (not in a complete read of their window) and moved out of callback_records';
COMMENT ON COLUMN callback_records_removed.record IS 'the removed callback_records row, every column, as jsonb';
COMMENT ON COLUMN callback_records_removed.run_id IS 'the run that removed the row (sync_runs.run_id)';
COMMENT ON COLUMN callback_records_removed.reason IS 'why the row was removed';

-- Analysts may see what was taken out of the archive (cbarchive_reader: migration 00021).
GRANT SELECT ON callback_records_removed TO cbarchive_reader;

-- +goose Down
DROP TABLE callback_records_removed;
