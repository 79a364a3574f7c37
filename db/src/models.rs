use diesel::prelude::*;
use time::OffsetDateTime;

use crate::schema::{directories, sites};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sites, check_for_backend(diesel::pg::Pg))]
pub struct Site {
    pub id: i64,
    pub name: String,
    pub hostnames: Vec<String>,
    pub mapping_enabled: bool,
    pub one_to_one_enabled: bool,
    pub many_to_one_enabled: bool,
    pub logon_method: String,
    pub default_logon_domain: String,
    pub revision: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Every column a user sets: written whole on create and on update, after the domain rules have
/// checked the merged result.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = sites)]
pub struct SiteValues {
    pub name: String,
    pub hostnames: Vec<String>,
    pub mapping_enabled: bool,
    pub one_to_one_enabled: bool,
    pub many_to_one_enabled: bool,
    pub logon_method: String,
    pub default_logon_domain: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = directories, check_for_backend(diesel::pg::Pg))]
pub struct Directory {
    pub id: i64,
    pub site_id: i64,
    pub path: String,
    pub require_ssl: bool,
    pub client_certificates: String,
    pub anonymous_auth: bool,
    pub basic_auth: bool,
    pub windows_auth: bool,
    pub digest_auth: bool,
    pub revision: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = directories)]
pub struct DirectoryValues {
    pub path: String,
    pub require_ssl: bool,
    pub client_certificates: String,
    pub anonymous_auth: bool,
    pub basic_auth: bool,
    pub windows_auth: bool,
    pub digest_auth: bool,
}
