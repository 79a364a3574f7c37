//! API tests: each starts the real server on port 0 with a database of its own.

mod all_sites_config;
mod architecture;
mod auth;
mod authorize;
mod bulk;
mod client_identity;
mod config;
mod console;
mod directories;
mod gateway_revocation;
mod gateways;
mod health;
mod iis_import;
mod lint;
mod long_poll;
mod many_to_one;
mod mappings;
mod openapi;
mod per_request;
mod pull;
mod readme;
mod repository;
mod revocation;
mod sites;
mod snapshot;
mod tls;
