-- Who changed what, written in the same transaction as the change. No foreign key to sites: the
-- history of a deleted site must survive it.
CREATE TABLE audit_events (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor       TEXT NOT NULL,
    role        TEXT NOT NULL,
    action      TEXT NOT NULL,
    site_id     BIGINT,
    resource    TEXT NOT NULL,
    resource_id BIGINT,
    before      JSONB,
    after       JSONB,
    remote_addr TEXT
);
CREATE INDEX audit_events_site_at ON audit_events (site_id, id);
CREATE INDEX audit_events_at ON audit_events (at);

-- Append-only, whoever connects: an audit log that can be edited proves nothing.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
