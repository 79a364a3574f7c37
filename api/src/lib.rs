//! certmap: the system of record for IIS client-certificate mappings and the mTLS gateways that
//! use them.

pub mod auth;
pub mod cli;
pub mod config;
pub mod crl_fetch;
pub mod data_dir;
pub mod domain;
pub mod gateway;
pub mod http;
pub mod iis_config;
pub mod locks;
pub mod openapi;
pub mod pull;
pub mod render;
pub mod secrets;
pub mod startup;
pub mod telemetry;
pub mod tls;
