-- The one client-identity form a registered client sends to authorize (see
-- api/src/domain/client_identity.rs); NULL means the role's default. Authorize reads only this form
-- and refuses every other identity header, so a client-sent fingerprint never decides a request.
ALTER TABLE api_clients ADD COLUMN client_identity TEXT
    CHECK (client_identity IN ('nginx', 'envoy', 'traefik', 'caddy', 'haproxy', 'apache', 'rfc9440', 'fingerprint'));
