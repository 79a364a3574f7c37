ALTER TABLE sites DROP COLUMN revocation_when_unknown;
ALTER TABLE sites DROP COLUMN revocation_check;
DROP TRIGGER crls_announce ON crls;
DROP FUNCTION certmap_announce_crls();
DROP TABLE crl_entries;
DROP TABLE crls;
