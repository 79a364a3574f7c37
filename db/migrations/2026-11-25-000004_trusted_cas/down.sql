ALTER TABLE sites DROP COLUMN trusted_cas;
