-- +goose Up
-- Processes archiving the same account (access key) share its API rate budget: each live
-- process holds a row here, refreshes it every second, and uses 1/n of the rate limit.
CREATE TABLE rate_budget_members (
    account      text        NOT NULL, -- sha256 of the access key, hex: processes of one account share a budget
    member_id    text        NOT NULL, -- the run id of the process
    joined_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, member_id)
);

-- +goose Down
DROP TABLE rate_budget_members;
