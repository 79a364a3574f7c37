//! API tests: each starts the real server on port 0 with a database of its own.

mod auth;
mod authorize;
mod bulk;
mod config;
mod directories;
mod gateways;
mod health;
mod lint;
mod many_to_one;
mod mappings;
mod openapi;
mod pull;
mod readme;
mod sites;
mod snapshot;
mod tls;
