DROP TRIGGER api_clients_announce ON api_clients;
DROP FUNCTION certmap_announce_api_clients();
