-- Every change to a site moves its revision (or creates or deletes it). Announcing that on commit
-- lets every certmap replica sharing this database drop its cached copy of the site and wake the
-- gateways long-polling it, whichever replica made the change (or a script through psql).
CREATE FUNCTION certmap_announce_site() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('certmap_sites', OLD.id || ':deleted');
    ELSIF TG_OP = 'INSERT' OR NEW.revision IS DISTINCT FROM OLD.revision OR NEW.name IS DISTINCT FROM OLD.name THEN
        PERFORM pg_notify('certmap_sites', NEW.id || ':' || NEW.revision);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER sites_announce AFTER INSERT OR UPDATE OR DELETE ON sites
    FOR EACH ROW EXECUTE FUNCTION certmap_announce_site();
