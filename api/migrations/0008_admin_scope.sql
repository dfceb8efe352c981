-- The `admin` scope: API tokens, members, notification channels and secret values.
-- Scopes nest (read < write < admin). Before this, a `write` token could already do everything
-- `admin` now guards, so existing write tokens (the sign-up token among them) get `admin` and no
-- automation breaks on upgrade; read-only tokens stay read-only and from now on see secret
-- values masked. Tokens minted from now on get exactly the scopes asked for, and an insert that
-- names none gets the least: `read`.
UPDATE api_tokens SET scopes = '{read,write,admin}'
WHERE 'write' = ANY(scopes) AND NOT 'admin' = ANY(scopes);

ALTER TABLE api_tokens ALTER COLUMN scopes SET DEFAULT '{read}';
