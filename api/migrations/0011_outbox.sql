-- Issue 11: the transactional outbox. Whatever a state change has to tell someone is written
-- here in the same transaction as the change; workers in any app server claim due rows with
-- FOR UPDATE SKIP LOCKED, send them, and log every attempt. The row id is the message id that
-- receivers deduplicate by (webhook-id, Message-ID, ...).
CREATE TABLE outbox (
    id               uuid PRIMARY KEY,
    tenant_id        uuid REFERENCES tenants (id) ON DELETE CASCADE,
    -- Exactly one recipient: a tenant's channel, a page subscriber, or an address (account mail:
    -- verification, invitation, password reset, subscription confirmation).
    channel_id       uuid REFERENCES notification_channels (id) ON DELETE CASCADE,
    subscriber_id    uuid REFERENCES subscribers (id) ON DELETE CASCADE,
    address          text,
    -- notify::EventKind, for the delivery log and routing.
    event            text NOT NULL,
    -- notify::Message as JSON: what every sender renders.
    message          jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'parked', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- A worker's lease: while it is in the future nobody else sends the row.
    claimed_until    timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    CHECK (num_nonnulls(channel_id, subscriber_id, address) = 1)
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_channel ON outbox (channel_id, created_at DESC) WHERE channel_id IS NOT NULL;

-- Every attempt at sending an outbox row, for the delivery log.
CREATE TABLE delivery_attempts (
    id           bigserial PRIMARY KEY,
    outbox_id    uuid NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    tenant_id    uuid REFERENCES tenants (id) ON DELETE CASCADE,
    channel_id   uuid REFERENCES notification_channels (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    outcome      text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed', 'parked')),
    status_code  integer,
    error        text,
    duration_ms  integer NOT NULL DEFAULT 0
);
CREATE INDEX delivery_attempts_channel ON delivery_attempts (channel_id, id DESC);
CREATE INDEX delivery_attempts_outbox ON delivery_attempts (outbox_id, id);
