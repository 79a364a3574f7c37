DROP INDEX mappings_site_user;
CREATE INDEX mappings_site_user ON mappings (site_id, lower(user_name));
DROP INDEX many_to_one_site_name_key;
CREATE UNIQUE INDEX many_to_one_site_name_key ON many_to_one_mappings (site_id, lower(name));
DROP INDEX sites_name_key;
CREATE UNIQUE INDEX sites_name_key ON sites (lower(name));
DROP FUNCTION certmap_fold(text);
