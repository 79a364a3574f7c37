-- Callers that authenticate with a client certificate instead of a token: gateways pulling over
-- mTLS, the way certmap tells others to work. Keyed by the SHA-256 of the certificate's DER.
CREATE TABLE api_clients (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL,
    sha256     TEXT NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    role       TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'reader', 'gateway')),
    sites      TEXT[],
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
