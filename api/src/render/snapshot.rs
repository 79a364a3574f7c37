//! Everything a renderer may use about one site, already validated and in a stable order, so the
//! same revision always renders the same bytes.

use crate::domain::certificate::Certificate;
use crate::domain::directory::DirectorySpec;
use crate::domain::names::{Hostname, SiteName, UserName};
use crate::domain::resolve::{PermissionMode, Rule};
use crate::domain::site::MappingSettings;
use crate::secrets::Password;

#[derive(Debug)]
pub struct SiteSnapshot {
    pub id: i64,
    pub revision: i64,
    pub name: SiteName,
    pub hostnames: Vec<Hostname>,
    pub mapping: MappingSettings,
    /// Sorted by path.
    pub directories: Vec<DirectorySpec>,
    /// Sorted by id.
    pub one_to_one: Vec<OneToOne>,
    /// Sorted by id: the order IIS evaluates them in.
    pub many_to_one: Vec<ManyToOne>,
}

#[derive(Debug)]
pub struct OneToOne {
    pub id: i64,
    pub user_name: UserName,
    pub enabled: bool,
    pub certificate: Certificate,
    /// Present only when an admin asked for secrets; renderers otherwise leave a placeholder.
    pub password: Option<Password>,
    /// Whether a password is stored at all (so a renderer can say "set it" or "none stored").
    pub has_password: bool,
    /// When certmap stops honouring the mapping, if before the certificate's own notAfter.
    pub expires_at: Option<time::OffsetDateTime>,
}

#[derive(Debug)]
pub struct ManyToOne {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub mode: PermissionMode,
    pub user_name: Option<UserName>,
    pub password: Option<Password>,
    pub has_password: bool,
    pub rules: Vec<Rule>,
}
