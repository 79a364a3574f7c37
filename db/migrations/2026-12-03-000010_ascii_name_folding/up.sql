-- One case-folding rule for names, the same in SQL and in Rust (`domain::names::fold`): ASCII
-- letters only. lower() follows the database's locale and Rust's to_lowercase() follows Unicode;
-- they disagree (İ, the Kelvin sign K), and a scope check in one with a lookup in the other let a
-- token limited to one site reach another. translate() depends on no locale, so the index, the
-- lookups and the scope checks cannot drift apart. Folding fewer letters than lower() only splits
-- names that were equal before, so no existing row breaks the new unique indexes.
CREATE FUNCTION certmap_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT translate($1, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') $$;

DROP INDEX sites_name_key;
CREATE UNIQUE INDEX sites_name_key ON sites (certmap_fold(name));
DROP INDEX many_to_one_site_name_key;
CREATE UNIQUE INDEX many_to_one_site_name_key ON many_to_one_mappings (site_id, certmap_fold(name));
DROP INDEX mappings_site_user;
CREATE INDEX mappings_site_user ON mappings (site_id, certmap_fold(user_name));
