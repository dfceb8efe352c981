-- Squatting and abuse: custom-domain claims that lapse and never block a verified owner,
-- periodic re-checks of verified domains, per-client sign-up limits, and a bound on every kind
-- of row a tenant can create.

-- A custom domain is unique among *verified* pages only: an unverified claim is just a wish and
-- must not keep the domain's real owner out. Verifying removes the other tenants' unverified
-- claims of the same domain (see `status_pages::verify_domain`).
ALTER TABLE status_pages DROP CONSTRAINT status_pages_custom_domain_key;
CREATE UNIQUE INDEX status_pages_verified_domain_key ON status_pages (custom_domain)
    WHERE domain_verified_at IS NOT NULL;
CREATE INDEX status_pages_custom_domain ON status_pages (custom_domain)
    WHERE custom_domain IS NOT NULL;

-- `domain_claimed_at`: when the current unverified claim began (it lapses after
-- `status_pages::DOMAIN_CLAIM_TTL_HOURS`). `domain_checked_at` and `domain_check_failures`: the
-- periodic re-check of a verified domain, which unverifies it after a few failed checks in a row.
ALTER TABLE status_pages
    ADD COLUMN domain_claimed_at      timestamptz,
    ADD COLUMN domain_checked_at      timestamptz,
    ADD COLUMN domain_check_failures  integer NOT NULL DEFAULT 0;
-- Existing unverified claims get the full window from now.
UPDATE status_pages SET domain_claimed_at = now()
    WHERE custom_domain IS NOT NULL AND domain_verified_at IS NULL;
CREATE INDEX status_pages_domain_recheck ON status_pages (domain_checked_at NULLS FIRST)
    WHERE domain_verified_at IS NOT NULL;

-- Sign-ups per client address (IPv6 folded to its /64, as for sign-ins), counted before the
-- tenant is created under an advisory lock, so concurrent sign-ups cannot slip under the limit.
CREATE TABLE signup_attempts (
    id      bigserial PRIMARY KEY,
    client  text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signup_attempts_client ON signup_attempts (client, at);
CREATE INDEX signup_attempts_at ON signup_attempts (at);

-- Per-tenant bounds, next to the existing plan limits (see `api::limits`). Open incidents are
-- those not resolved; API tokens count while not revoked.
ALTER TABLE tenants
    ADD COLUMN max_component_groups     integer NOT NULL DEFAULT 50    CHECK (max_component_groups >= 0),
    ADD COLUMN max_incidents            integer NOT NULL DEFAULT 10000 CHECK (max_incidents >= 0),
    ADD COLUMN max_open_incidents       integer NOT NULL DEFAULT 50    CHECK (max_open_incidents >= 0),
    ADD COLUMN max_updates_per_incident integer NOT NULL DEFAULT 200   CHECK (max_updates_per_incident >= 0),
    ADD COLUMN max_maintenances         integer NOT NULL DEFAULT 1000  CHECK (max_maintenances >= 0),
    ADD COLUMN max_subscribers          integer NOT NULL DEFAULT 10000 CHECK (max_subscribers >= 0),
    ADD COLUMN max_channels             integer NOT NULL DEFAULT 50    CHECK (max_channels >= 0),
    ADD COLUMN max_api_tokens           integer NOT NULL DEFAULT 50    CHECK (max_api_tokens >= 0),
    ADD COLUMN max_members              integer NOT NULL DEFAULT 100   CHECK (max_members >= 0);

-- The other counts use existing indexes (tenant_id leads each of them).
CREATE INDEX incidents_tenant_open ON incidents (tenant_id) WHERE status <> 'resolved';
