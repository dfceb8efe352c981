-- Issue 11: subscribers for real. Slack incoming webhooks join email and webhook subscribers,
-- and each maintenance window's start and end by the clock is announced exactly once: the
-- announcer stamps these columns in the transaction that writes the announcement to the outbox,
-- so several app servers never announce the same start twice.
ALTER TABLE subscribers DROP CONSTRAINT subscribers_kind_check;
ALTER TABLE subscribers ADD CONSTRAINT subscribers_kind_check
    CHECK (kind IN ('email', 'webhook', 'slack'));
-- Who hears about a change: the tenant's confirmed subscribers.
CREATE INDEX subscribers_confirmed ON subscribers (tenant_id) WHERE confirmed_at IS NOT NULL;
-- Unconfirmed email subscriptions are forgotten after a while (they hold a plan slot).
CREATE INDEX subscribers_unconfirmed ON subscribers (created_at) WHERE confirmed_at IS NULL;

ALTER TABLE maintenances
    ADD COLUMN start_announced_at timestamptz,
    ADD COLUMN end_announced_at   timestamptz;
-- Windows that began or ended before this migration are not announced after the fact.
UPDATE maintenances SET start_announced_at = starts_at WHERE starts_at <= now() OR status <> 'scheduled';
UPDATE maintenances SET end_announced_at = ends_at WHERE ends_at <= now() OR status = 'completed';
-- What the announcer looks at: windows whose end is not announced yet.
CREATE INDEX maintenances_unannounced ON maintenances (starts_at) WHERE end_announced_at IS NULL;
