-- Issue 11: routing of team alerts. Rules say which events about which components or monitors
-- reach which channel, with throttle, repeat, grouping and escalation; a channel no rule names
-- receives every alert of its tenant. Open problems (tenant + dedup key) carry what throttle,
-- repeats, acknowledgement and escalation need; the sweeper (any app server, SKIP LOCKED) turns
-- grouped, repeated and escalated alerts into outbox rows.

ALTER TABLE tenants
    ADD COLUMN max_alert_rules integer NOT NULL DEFAULT 50 CHECK (max_alert_rules >= 0);

CREATE TABLE alert_rules (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                 text NOT NULL,
    channel_id           uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    -- notify::EventKind names (down, degraded, regional_outage, recovery, incident_update,
    -- maintenance).
    events               text[] NOT NULL,
    -- Empty (both): every component and monitor; else alerts about any of them.
    component_ids        uuid[] NOT NULL DEFAULT '{}',
    monitor_ids          uuid[] NOT NULL DEFAULT '{}',
    throttle_secs        integer NOT NULL DEFAULT 0 CHECK (throttle_secs BETWEEN 0 AND 86400),
    repeat_secs          integer CHECK (repeat_secs BETWEEN 1 AND 604800),
    group_secs           integer NOT NULL DEFAULT 0 CHECK (group_secs BETWEEN 0 AND 3600),
    escalate_after_secs  integer CHECK (escalate_after_secs BETWEEN 1 AND 604800),
    escalate_channel_id  uuid REFERENCES notification_channels (id) ON DELETE SET NULL,
    version              integer NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE INDEX alert_rules_tenant ON alert_rules (tenant_id, created_at DESC, id DESC);

-- One problem per tenant and dedup key while it is open (down, degraded, regional outage); a
-- recovery closes it. Closed ones stay a while for GET /api/v1/alerts.
CREATE TABLE alert_problems (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    dedup_key        text NOT NULL,
    event            text NOT NULL,
    title            text NOT NULL,
    -- The last notify::Message raised for it (without its acknowledge link): what repeats and
    -- escalations resend, each with a fresh link.
    message          jsonb NOT NULL,
    monitor_ids      uuid[] NOT NULL DEFAULT '{}',
    component_ids    uuid[] NOT NULL DEFAULT '{}',
    incident_id      uuid,
    opened_at        timestamptz NOT NULL DEFAULT now(),
    last_raised_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at      timestamptz,
    acknowledged_at  timestamptz,
    -- `api_token:<id>` or `acknowledge_link`.
    acknowledged_by  text
);
CREATE UNIQUE INDEX alert_problems_open ON alert_problems (tenant_id, dedup_key)
    WHERE resolved_at IS NULL;
CREATE INDEX alert_problems_recent ON alert_problems (tenant_id, opened_at DESC, id DESC);

-- What each channel has had of a problem: throttle, repeats and escalation per channel.
CREATE TABLE alert_routes (
    problem_id      uuid NOT NULL REFERENCES alert_problems (id) ON DELETE CASCADE,
    channel_id      uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- The rule that routed it here (NULL: the channel has no rules and takes everything).
    rule_id         uuid REFERENCES alert_rules (id) ON DELETE SET NULL,
    last_sent_at    timestamptz,
    sent_count      integer NOT NULL DEFAULT 0,
    next_repeat_at  timestamptz,
    escalate_at     timestamptz,
    escalated_at    timestamptz,
    escalated_to    uuid REFERENCES notification_channels (id) ON DELETE SET NULL,
    PRIMARY KEY (problem_id, channel_id)
);
CREATE INDEX alert_routes_repeat ON alert_routes (next_repeat_at) WHERE next_repeat_at IS NOT NULL;
CREATE INDEX alert_routes_escalate ON alert_routes (escalate_at)
    WHERE escalate_at IS NOT NULL AND escalated_at IS NULL;

-- Alerts waiting for their channel's grouping window to close; the sweeper sends each
-- channel's due ones as one message.
CREATE TABLE alert_pending (
    id          bigserial PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    channel_id  uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    problem_id  uuid REFERENCES alert_problems (id) ON DELETE SET NULL,
    message     jsonb NOT NULL,
    due_at      timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_pending_due ON alert_pending (due_at);
CREATE INDEX alert_pending_channel ON alert_pending (channel_id, due_at);

-- The key that signs acknowledge links (alerts::ack), made here so that no alert transaction
-- has to create it (two doing so at once would wait on each other). gen_random_uuid() draws
-- from the strong random source: two of them give 244 random bits.
INSERT INTO platform_secrets (name, secret)
VALUES ('alert_acknowledge',
        decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'))
ON CONFLICT (name) DO NOTHING;
