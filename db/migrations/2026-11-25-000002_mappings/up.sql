-- One-to-one mappings: a whole certificate → a Windows account, per site (IIS keys the
-- oneToOneMappings collection on the certificate itself). The derived identities are stored so
-- gateways (SHA-1, SHA-256, SPKI) and people (subject, issuer, serial) can find a mapping.
CREATE TABLE mappings (
    id            BIGSERIAL PRIMARY KEY,
    site_id       BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    user_name     TEXT NOT NULL,
    -- AES-256-GCM ciphertext; the clear text never reaches the database.
    password_enc  BYTEA,
    enabled       BOOLEAN NOT NULL DEFAULT true,
    description   TEXT,
    expires_at    TIMESTAMPTZ,
    allow_expired BOOLEAN NOT NULL DEFAULT false,
    certificate   BYTEA NOT NULL,
    sha1          TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    spki_sha256   TEXT NOT NULL,
    subject       TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    serial        TEXT NOT NULL,
    san_dns       TEXT[] NOT NULL DEFAULT '{}',
    san_email     TEXT[] NOT NULL DEFAULT '{}',
    san_uri       TEXT[] NOT NULL DEFAULT '{}',
    not_before    TIMESTAMPTZ NOT NULL,
    not_after     TIMESTAMPTZ NOT NULL,
    key_type      TEXT NOT NULL,
    key_bits      INTEGER,
    revision      BIGINT NOT NULL DEFAULT 1,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX mappings_site_certificate_key ON mappings (site_id, sha256);
CREATE INDEX mappings_sha256 ON mappings (sha256);
CREATE INDEX mappings_sha1 ON mappings (sha1);
CREATE INDEX mappings_site_user ON mappings (site_id, lower(user_name));
CREATE INDEX mappings_site_not_after ON mappings (site_id, not_after);

-- Many-to-one mappings: rules on subject/issuer fields → an account, or a deny. Rules are replaced
-- as a whole, so they are stored as one JSON document.
CREATE TABLE many_to_one_mappings (
    id              BIGSERIAL PRIMARY KEY,
    site_id         BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    description     TEXT,
    enabled         BOOLEAN NOT NULL DEFAULT true,
    permission_mode TEXT NOT NULL CHECK (permission_mode IN ('Allow', 'Deny')),
    user_name       TEXT,
    password_enc    BYTEA,
    rules           JSONB NOT NULL,
    revision        BIGINT NOT NULL DEFAULT 1,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX many_to_one_site_name_key ON many_to_one_mappings (site_id, lower(name));
