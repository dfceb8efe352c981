-- Heartbeat (push) monitors: a job calls the monitor's secret URL on success (or `/fail`), and
-- a ping that does not come in time is a failure of the pseudo-region `heartbeat`, decided by
-- the same engine as every check. One row per monitor that has a URL; the token only as SHA-256.
CREATE TABLE heartbeats (
    monitor_id         uuid PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    token_hash         bytea NOT NULL UNIQUE,
    issued_at          timestamptz NOT NULL DEFAULT now(),
    -- Nothing is late before the first ping: a new monitor waits for its job.
    last_ping_at       timestamptz,
    last_ping_ok       boolean,
    last_message       text CHECK (length(last_message) <= 1024),
    -- When the next ping is late (expected time + grace); NULL: to be worked out again (the
    -- spec changed) by the sweeper.
    due_by             timestamptz,
    -- When the sweeper last reported it missing: again every interval_seconds while it stays so.
    missed_reported_at timestamptz
);
CREATE INDEX heartbeats_due ON heartbeats (due_by) WHERE last_ping_at IS NOT NULL;
CREATE INDEX heartbeats_tenant ON heartbeats (tenant_id);
