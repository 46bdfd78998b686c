-- +goose Up
-- discovered_domains: domains that have call-back records but that ListDomainDetail does not
-- list (a deleted domain keeps its history), found by comparing the account-wide TotalCount
-- of a window with the TotalCount of the listed domains. They are archived like any domain;
-- `cbarchive status` lists them.
CREATE TABLE discovered_domains (
    domain         text        PRIMARY KEY,
    first_found_at timestamptz NOT NULL DEFAULT now(),
    last_found_at  timestamptz NOT NULL DEFAULT now(),
    run_id         text        NOT NULL
);

COMMENT ON TABLE discovered_domains IS 'Domains with records that ListDomainDetail does not list, found by account-wide counts';
COMMENT ON COLUMN discovered_domains.run_id IS 'the run that last found the domain (sync_runs.run_id)';

GRANT SELECT ON discovered_domains TO cbarchive_reader;

-- +goose Down
DROP TABLE discovered_domains;
