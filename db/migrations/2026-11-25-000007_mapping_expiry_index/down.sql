DROP INDEX mappings_site_expires_at;
