-- The client CAs a site's gateways trust, as DER certificates in the order they were given.
ALTER TABLE sites ADD COLUMN trusted_cas BYTEA[] NOT NULL DEFAULT '{}';
