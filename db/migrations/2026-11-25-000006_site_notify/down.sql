DROP TRIGGER sites_announce ON sites;
DROP FUNCTION certmap_announce_site();
