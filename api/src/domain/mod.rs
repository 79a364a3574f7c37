//! Pure types and rules. Nothing here knows about HTTP, SQL or async: every rule that decides
//! whether IIS would accept a configuration lives here so it can be tested on its own.

pub mod certificate;
pub mod client_identity;
pub mod crl;
pub mod directory;
pub mod lint;
pub mod mapping;
pub mod names;
pub mod ocsp;
pub mod request_path;
pub mod resolve;
pub mod revocation;
pub mod site;
pub mod violation;
