-- The tenant's whole model: plan limits, scoped tokens, component groups, incidents, scheduled
-- maintenance, subscribers, notification channels, an audit log and idempotent creates.
-- Every tenant-owned row carries tenant_id, and references between tenant-owned rows go through
-- (tenant_id, id) so a row can never point at another tenant's row, whatever the API does.
-- `version` counts updates: it is the ETag that `If-Match` is checked against.

ALTER TABLE tenants
    ADD COLUMN plan                 text    NOT NULL DEFAULT 'free',
    ADD COLUMN max_monitors         integer NOT NULL DEFAULT 50 CHECK (max_monitors >= 0),
    ADD COLUMN max_components       integer NOT NULL DEFAULT 50 CHECK (max_components >= 0),
    ADD COLUMN min_interval_seconds integer NOT NULL DEFAULT 30 CHECK (min_interval_seconds >= 30);

ALTER TABLE api_tokens
    ADD COLUMN scopes text[] NOT NULL DEFAULT '{read,write}';

ALTER TABLE monitors ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE components
    ADD COLUMN version    integer NOT NULL DEFAULT 1,
    ADD COLUMN group_id   uuid,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE component_groups (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    position    integer NOT NULL DEFAULT 0,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id)
);

ALTER TABLE components
    ADD FOREIGN KEY (tenant_id, group_id) REFERENCES component_groups (tenant_id, id)
        ON DELETE SET NULL (group_id);

ALTER TABLE status_pages
    ADD COLUMN visibility          text NOT NULL DEFAULT 'public'
        CHECK (visibility IN ('public', 'password', 'private')),
    ADD COLUMN password_hash       text,
    ADD COLUMN custom_domain       text UNIQUE,
    ADD COLUMN domain_token        text,
    ADD COLUMN domain_verified_at  timestamptz,
    ADD COLUMN branding            jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN version             integer NOT NULL DEFAULT 1,
    ADD COLUMN updated_at          timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT status_pages_password CHECK (visibility <> 'password' OR password_hash IS NOT NULL);

CREATE TABLE incidents (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    title        text NOT NULL,
    status       text NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
    impact       text NOT NULL CHECK (impact IN ('none', 'minor', 'major', 'critical')),
    started_at   timestamptz NOT NULL,
    resolved_at  timestamptz,
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL))
);
CREATE INDEX incidents_tenant_created ON incidents (tenant_id, created_at DESC, id DESC);

CREATE TABLE incident_updates (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    incident_id  uuid NOT NULL,
    status       text NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
    message      text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, incident_id) REFERENCES incidents (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX incident_updates_incident ON incident_updates (incident_id, created_at);

-- The components an incident affects, each with the status it puts that component in.
CREATE TABLE incident_components (
    tenant_id     uuid NOT NULL,
    incident_id   uuid NOT NULL,
    component_id  uuid NOT NULL,
    status        text NOT NULL CHECK (status IN ('operational', 'degraded_performance', 'partial_outage', 'major_outage')),
    PRIMARY KEY (incident_id, component_id),
    FOREIGN KEY (tenant_id, incident_id) REFERENCES incidents (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, component_id) REFERENCES components (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE maintenances (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    title            text NOT NULL,
    description      text NOT NULL DEFAULT '',
    -- Set by hand; with auto_transition the effective status also follows the clock.
    status           text NOT NULL CHECK (status IN ('scheduled', 'in_progress', 'verifying', 'completed')),
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    auto_transition  boolean NOT NULL DEFAULT true,
    version          integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    CHECK (ends_at > starts_at)
);
CREATE INDEX maintenances_tenant_window ON maintenances (tenant_id, starts_at, ends_at);

CREATE TABLE maintenance_components (
    tenant_id       uuid NOT NULL,
    maintenance_id  uuid NOT NULL,
    component_id    uuid NOT NULL,
    PRIMARY KEY (maintenance_id, component_id),
    FOREIGN KEY (tenant_id, maintenance_id) REFERENCES maintenances (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, component_id) REFERENCES components (tenant_id, id) ON DELETE CASCADE
);

-- Email subscribers confirm by a link (double opt-in); webhooks are confirmed on creation.
-- Tokens are stored as SHA-256 only.
CREATE TABLE subscribers (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind                text NOT NULL CHECK (kind IN ('email', 'webhook')),
    target              text NOT NULL,
    component_ids       uuid[] NOT NULL DEFAULT '{}',
    confirm_token_hash  bytea,
    confirmed_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, kind, target)
);

CREATE TABLE notification_channels (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('email', 'webhook', 'slack')),
    config      jsonb NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

-- Who changed what: one row per write through the API.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    actor       text NOT NULL,
    action      text NOT NULL,
    entity      text NOT NULL,
    entity_id   uuid,
    details     jsonb NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id DESC);

-- Responses to creates sent with an Idempotency-Key, replayed for a retry of the same request.
CREATE TABLE idempotency_keys (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    status        integer NOT NULL,
    response      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);
