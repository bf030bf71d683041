-- Accounts, sessions and login throttling. The service logs in as a member of cc_app, which gets only
-- the privileges these migrations grant; cc_owner (the migrating role) owns every table.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cc_app') THEN
    CREATE ROLE cc_app NOLOGIN;
  END IF;
END
$$;

CREATE TABLE account (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  email_lower   text GENERATED ALWAYS AS (lower(email)) STORED,
  display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
  role          text NOT NULL CHECK (role IN ('member', 'researcher', 'coordinator', 'admin')),
  password_hash text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  deleted_at    timestamptz
);
CREATE UNIQUE INDEX account_email_lower_key ON account (email_lower);

-- Access tokens are stored only as their SHA-256.
CREATE TABLE session (
  token_hash  text PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  account_id  uuid NOT NULL REFERENCES account (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  revoked_at  timestamptz
);
CREATE INDEX session_account_idx ON session (account_id);

-- Failed sign-ins per account (keyed by the lower-cased email's hash) and per client address.
CREATE TABLE auth_throttle (
  key          text PRIMARY KEY,
  failures     int NOT NULL,
  window_start timestamptz NOT NULL
);

GRANT SELECT, INSERT, UPDATE, DELETE ON account, session, auth_throttle TO cc_app;
GRANT SELECT ON schema_migrations TO cc_app;
