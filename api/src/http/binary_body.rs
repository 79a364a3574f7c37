//! How the spec describes a request body of raw bytes (a DER certificate): a binary string, not
//! the array of integers a `Vec<u8>` would be documented as, which no client sends.

use utoipa::ToSchema;

/// Raw bytes, as `curl --data-binary @alice.cer` sends them.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct BinaryBody(pub Vec<u8>);
