-- Sites carry the IIS mapping section (it is only valid at the site root) and a revision that moves
-- on every change to the site or anything under it, so gateways and ETags can tell what changed.
CREATE TABLE sites (
    id                   BIGSERIAL PRIMARY KEY,
    name                 TEXT NOT NULL CHECK (name <> '' AND length(name) <= 255),
    hostnames            TEXT[] NOT NULL DEFAULT '{}',
    mapping_enabled      BOOLEAN NOT NULL DEFAULT false,
    one_to_one_enabled   BOOLEAN NOT NULL DEFAULT true,
    many_to_one_enabled  BOOLEAN NOT NULL DEFAULT true,
    logon_method         TEXT NOT NULL DEFAULT 'ClearText'
                         CHECK (logon_method IN ('Interactive', 'Batch', 'Network', 'ClearText')),
    default_logon_domain TEXT NOT NULL DEFAULT '',
    revision             BIGINT NOT NULL DEFAULT 1,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- IIS compares site names case-insensitively.
CREATE UNIQUE INDEX sites_name_key ON sites (lower(name));

-- Directories carry only SSL and authentication settings: there is deliberately no place for
-- mapping settings here, because IIS ignores them below the site root (401.2, 0x80070005).
CREATE TABLE directories (
    id                  BIGSERIAL PRIMARY KEY,
    site_id             BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    path                TEXT NOT NULL CHECK (path LIKE '/%'),
    require_ssl         BOOLEAN NOT NULL DEFAULT false,
    client_certificates TEXT NOT NULL DEFAULT 'ignore'
                        CHECK (client_certificates IN ('ignore', 'accept', 'require')),
    anonymous_auth      BOOLEAN NOT NULL DEFAULT true,
    basic_auth          BOOLEAN NOT NULL DEFAULT false,
    windows_auth        BOOLEAN NOT NULL DEFAULT false,
    digest_auth         BOOLEAN NOT NULL DEFAULT false,
    revision            BIGINT NOT NULL DEFAULT 1,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Last line of defence behind the domain rules: the database itself refuses a certificate
    -- requirement without SSL, and a secured directory that lets anything else in.
    CONSTRAINT directories_client_cert_requires_ssl
        CHECK (client_certificates = 'ignore' OR require_ssl),
    CONSTRAINT directories_secured_allows_other_auth
        CHECK (client_certificates <> 'require'
               OR NOT (anonymous_auth OR basic_auth OR windows_auth OR digest_auth))
);
-- IIS paths compare case-insensitively.
CREATE UNIQUE INDEX directories_site_path_key ON directories (site_id, lower(path));
