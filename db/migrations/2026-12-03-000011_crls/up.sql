-- The CRL held for each CA certmap trusts: its DER as received, the facts read from it once, and
-- where it came from. One row per CA (a newer CRL replaces the row); its revoked serials are in
-- crl_entries, indexed per CRL, so every replica loads them without parsing.
CREATE TABLE crls (
    id BIGSERIAL PRIMARY KEY,
    -- SHA-256 of the CA certificate whose key verified the CRL.
    ca_sha256 TEXT NOT NULL UNIQUE,
    -- The CA's subject as certmap writes DNs: what its certificates name as issuer.
    issuer TEXT NOT NULL,
    der BYTEA NOT NULL,
    der_sha256 TEXT NOT NULL,
    -- Lowercase hex of the CRL number, when it has one.
    crl_number TEXT,
    this_update TIMESTAMPTZ NOT NULL,
    next_update TIMESTAMPTZ,
    entries INTEGER NOT NULL,
    -- 'upload', or the distribution point's URL.
    source TEXT NOT NULL,
    fetch_outcome TEXT,
    fetched_at TIMESTAMPTZ,
    stored_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE crl_entries (
    crl_id BIGINT NOT NULL REFERENCES crls (id) ON DELETE CASCADE,
    serial TEXT NOT NULL,
    revoked_at TIMESTAMPTZ NOT NULL,
    reason TEXT,
    PRIMARY KEY (crl_id, serial)
);

-- Every replica keeps the CRLs in memory; a change from any of them (or from psql) is announced
-- on commit so each reloads, drops what it rendered from the old ones and wakes long-polls.
CREATE FUNCTION certmap_announce_crls() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('certmap_crls', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER crls_announce AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crls
    FOR EACH STATEMENT EXECUTE FUNCTION certmap_announce_crls();

-- Each site's revocation policy. The defaults check by CRL and deny what cannot be decided, and
-- cost existing sites nothing: until a CRL is held for an issuer its certificates are not checked.
ALTER TABLE sites ADD COLUMN revocation_check TEXT NOT NULL DEFAULT 'crl';
ALTER TABLE sites ADD COLUMN revocation_when_unknown TEXT NOT NULL DEFAULT 'deny';
