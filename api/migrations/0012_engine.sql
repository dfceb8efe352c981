-- Issue 11: the incident engine. The fast path keeps the latest status per monitor and region
-- (monitor_region_state); the engine folds those into one confirmed state per monitor, opens and
-- resolves incidents and raises team alerts, all in the transaction that recorded the results.

-- Per-monitor confirmation policy. NULL quorum = a majority of the monitor's regions.
ALTER TABLE monitors
    ADD COLUMN confirm_quorum          integer CHECK (confirm_quorum BETWEEN 1 AND 64),
    ADD COLUMN confirm_failures        integer NOT NULL DEFAULT 1 CHECK (confirm_failures BETWEEN 1 AND 10),
    ADD COLUMN confirm_recoveries      integer NOT NULL DEFAULT 2 CHECK (confirm_recoveries BETWEEN 1 AND 10),
    ADD COLUMN regional_after_seconds  integer NOT NULL DEFAULT 120 CHECK (regional_after_seconds BETWEEN 0 AND 3600),
    ADD COLUMN flap_changes            integer NOT NULL DEFAULT 6 CHECK (flap_changes BETWEEN 2 AND 100),
    ADD COLUMN flap_window_minutes     integer NOT NULL DEFAULT 30 CHECK (flap_window_minutes BETWEEN 1 AND 1440);

-- Consecutive counts per region (the re-check is the confirmation) and the last result's detail,
-- which becomes the incident's evidence.
ALTER TABLE monitor_region_state
    ADD COLUMN fail_streak  integer NOT NULL DEFAULT 0,
    ADD COLUMN ok_streak    integer NOT NULL DEFAULT 0,
    ADD COLUMN detail       jsonb NOT NULL DEFAULT '{}';

-- One confirmed state per monitor. The checker plan reads `state <> 'operational'` to make the
-- checkers report every result (not only changes), so recoveries can be counted.
CREATE TABLE monitor_state (
    monitor_id       uuid PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    state            text NOT NULL DEFAULT 'operational'
        CHECK (state IN ('operational', 'degraded', 'regional_outage', 'major_outage', 'under_maintenance')),
    since            timestamptz NOT NULL DEFAULT now(),
    -- The current problem episode: its id makes the alert dedup key and is the incident's id.
    problem_id       uuid,
    problem_state    text CHECK (problem_state IN ('degraded', 'regional_outage', 'major_outage')),
    problem_since    timestamptz,
    incident_id      uuid REFERENCES incidents (id) ON DELETE SET NULL,
    -- Below-quorum failure began (the regional-outage timer).
    partial_since    timestamptz,
    -- The regions counted as failing at the last evaluation (the timeline follows them).
    failing_regions  text[] NOT NULL DEFAULT '{}',
    -- Re-checks were dispatched for the current unconfirmed failure.
    rechecked_at     timestamptz,
    -- Flapping guard: what the regions say now (raw_state) and when that last changed
    -- (transitions, within the monitor's window); while flapping, `state` is held.
    raw_state        text NOT NULL DEFAULT 'operational',
    transitions      timestamptz[] NOT NULL DEFAULT '{}',
    flapping         boolean NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX monitor_state_tenant ON monitor_state (tenant_id);
CREATE INDEX monitor_state_sweep ON monitor_state (monitor_id)
    WHERE partial_since IS NOT NULL OR state <> 'operational' OR flapping;

-- Engine-made incidents carry their monitor and evidence; drafts (published_at IS NULL) stay off
-- the public page and feeds until a person publishes them.
ALTER TABLE incidents
    ADD COLUMN source        text NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'engine')),
    ADD COLUMN monitor_id    uuid REFERENCES monitors (id) ON DELETE SET NULL,
    ADD COLUMN evidence      jsonb,
    ADD COLUMN published_at  timestamptz DEFAULT now();
UPDATE incidents SET published_at = created_at;
CREATE INDEX incidents_open_engine ON incidents (monitor_id) WHERE resolved_at IS NULL AND source = 'engine';

-- What the engine does with a confirmed outage, per tenant.
ALTER TABLE status_pages
    ADD COLUMN auto_incidents text NOT NULL DEFAULT 'publish'
        CHECK (auto_incidents IN ('publish', 'draft', 'off'));

-- A person can pin a component's status regardless of its monitors.
ALTER TABLE components
    ADD COLUMN status_override text
        CHECK (status_override IN ('operational', 'degraded_performance', 'partial_outage', 'major_outage', 'under_maintenance'));
