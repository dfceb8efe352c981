-- Tenants, people, credentials, monitors, components and status pages: the first slice.

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    email          text NOT NULL,
    password_hash  text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE memberships (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);

-- Only a SHA-256 of the token is stored; the prefix helps people tell tokens apart.
CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name          text NOT NULL,
    prefix        text NOT NULL,
    token_hash    bytea NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id);

-- Browser sessions; the cookie holds the secret, the table only its SHA-256.
CREATE TABLE sessions (
    id_hash     bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

CREATE TABLE components (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    position    integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id)
);

CREATE TABLE monitors (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    component_id      uuid,
    name              text NOT NULL,
    kind              text NOT NULL,
    spec              jsonb NOT NULL,
    interval_seconds  integer NOT NULL CHECK (interval_seconds >= 30),
    regions           text[] NOT NULL DEFAULT '{}',
    enabled           boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    -- a monitor can only belong to a component of its own tenant
    FOREIGN KEY (tenant_id, component_id) REFERENCES components (tenant_id, id) ON DELETE SET NULL (component_id)
);
CREATE INDEX monitors_tenant ON monitors (tenant_id);

-- Latest known status per monitor and region, kept by the checkers' fast path.
CREATE TABLE monitor_region_state (
    monitor_id       uuid NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    region           text NOT NULL,
    status           text NOT NULL CHECK (status IN ('up', 'degraded', 'down')),
    since            timestamptz NOT NULL,
    last_checked_at  timestamptz NOT NULL,
    last_error       text,
    PRIMARY KEY (monitor_id, region)
);

CREATE TABLE status_pages (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL UNIQUE REFERENCES tenants (id) ON DELETE CASCADE,
    title       text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
