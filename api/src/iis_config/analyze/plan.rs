//! What import writes: the sites, directories and mappings a configuration file holds, repaired.

use crate::domain::certificate::Certificate;
use crate::domain::directory::DirectorySpec;
use crate::domain::names::{Hostname, SiteName, UserName};
use crate::domain::resolve::{PermissionMode, Rule};
use crate::domain::site::MappingSettings;
use crate::secrets::Password;

/// What import writes, with every repair applied (import refuses to use it when a finding blocks
/// and repair was not asked for).
#[derive(Debug, Default)]
pub struct Plan {
    pub sites: Vec<SitePlan>,
    /// What the repairs changed, in words.
    pub repairs: Vec<String>,
    /// The file could not be read at all (malformed or hostile XML): nothing can be imported.
    pub unreadable: bool,
    /// A web.config with settings but no site to put them on.
    pub needs_site: bool,
}

#[derive(Debug)]
pub struct SitePlan {
    pub name: SiteName,
    pub line: u32,
    /// From the site's bindings; empty when the file has none.
    pub hostnames: Vec<Hostname>,
    pub mapping: MappingSettings,
    /// Sorted by path.
    pub directories: Vec<DirectorySpec>,
    pub one_to_one: Vec<OneToOnePlan>,
    pub many_to_one: Vec<ManyToOnePlan>,
}

#[derive(Debug)]
pub struct OneToOnePlan {
    pub line: u32,
    pub user_name: UserName,
    pub enabled: bool,
    pub certificate: Certificate,
    /// Only a clear-text password; an IIS-encrypted one cannot be read here.
    pub password: Option<Password>,
}

#[derive(Debug)]
pub struct ManyToOnePlan {
    pub line: u32,
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub mode: PermissionMode,
    pub user_name: Option<UserName>,
    pub password: Option<Password>,
    pub rules: Vec<Rule>,
}
