//! API tests: each starts the real server on port 0 with a database of its own.

mod directories;
mod health;
mod lint;
mod openapi;
mod sites;
