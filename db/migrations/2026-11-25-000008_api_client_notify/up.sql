-- Registered client certificates are cached by every replica; adding or removing one (with
-- `certmap api-client`, from any host) is announced on commit so no replica keeps honouring a
-- removed one.
CREATE FUNCTION certmap_announce_api_clients() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('certmap_api_clients', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER api_clients_announce AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_clients
    FOR EACH STATEMENT EXECUTE FUNCTION certmap_announce_api_clients();
