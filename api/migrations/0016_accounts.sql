-- Issue 11: accounts by email. Verified addresses, single-use mailed tokens (email verification
-- and password reset), invitations a person accepts by an emailed link, and the per-address and
-- per-client counts that limit how much account mail anyone can make us send.

-- When the address was proven to reach the account's owner (a verification link, a password
-- reset, or an invitation accepted from its mailed link). NULL: unverified; whoever registered
-- the address may not own it. Accounts that predate verification are taken as verified (they
-- were made by their owners or by a tenant's admins before this rule existed).
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
UPDATE users SET email_verified_at = created_at;

-- Mailed single-use tokens of one account: only a SHA-256 of the token is stored. `email` is the
-- address the token was sent to; a token proves control of that address only.
CREATE TABLE account_tokens (
    token_hash  bytea PRIMARY KEY,
    purpose     text NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose) WHERE used_at IS NULL;

-- An invitation to join a tenant with a role, mailed to one address; accepted (once) by whoever
-- holds the mailed token and signs in as, or registers, the account of exactly that address.
CREATE TABLE invitations (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email        text NOT NULL,
    role         text NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    token_hash   bytea NOT NULL UNIQUE,
    -- Who invited: `api_token:<id>` or `user:<id>`, as the audit log names actors.
    invited_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz,
    accepted_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    revoked_at   timestamptz
);
-- At most one open invitation per address and tenant: inviting again replaces it.
CREATE UNIQUE INDEX invitations_open_key ON invitations (tenant_id, lower(email))
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_tenant ON invitations (tenant_id, created_at DESC, id DESC);

-- Account mail asked for (verification resends, password resets), per kind and key: the SHA-256
-- of the lower-cased address (never the address), or the client address (IPv6: its /64). Counted
-- under an advisory lock before anything is sent; rows older than the window are deleted.
CREATE TABLE account_mail_requests (
    id     bigserial PRIMARY KEY,
    kind   text NOT NULL,
    key    text NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_mail_requests_key ON account_mail_requests (kind, key, at);
CREATE INDEX account_mail_requests_at ON account_mail_requests (at);
