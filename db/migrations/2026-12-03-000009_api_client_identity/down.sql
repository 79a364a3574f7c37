ALTER TABLE api_clients DROP COLUMN client_identity;
