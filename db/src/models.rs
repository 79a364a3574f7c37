use diesel::prelude::*;
use time::OffsetDateTime;

use crate::schema::{audit_events, directories, many_to_one_mappings, mappings, sites};

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
    pub revocation_check: String,
    pub revocation_when_unknown: String,
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
    pub revocation_check: String,
    pub revocation_when_unknown: String,
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

/// What a gateway needs of a one-to-one mapping: the certificate's stored facts, never its DER
/// or the password, so a cache of a large site stays small and loads without parsing.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mappings, check_for_backend(diesel::pg::Pg))]
pub struct GatewayMapping {
    pub id: i64,
    pub user_name: String,
    pub enabled: bool,
    pub expires_at: Option<OffsetDateTime>,
    pub sha1: String,
    pub sha256: String,
    pub spki_sha256: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Whether a password is stored, without reading it: rendered config says so.
    #[diesel(select_expression = mappings::password_enc.is_not_null())]
    #[diesel(select_expression_type = diesel::dsl::IsNotNull<mappings::password_enc>)]
    pub has_password: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mappings, check_for_backend(diesel::pg::Pg))]
pub struct Mapping {
    pub id: i64,
    pub site_id: i64,
    pub user_name: String,
    pub password_enc: Option<Vec<u8>>,
    pub enabled: bool,
    pub description: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    pub allow_expired: bool,
    pub certificate: Vec<u8>,
    pub sha1: String,
    pub sha256: String,
    pub spki_sha256: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub san_dns: Vec<String>,
    pub san_email: Vec<String>,
    pub san_uri: Vec<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub key_type: String,
    pub key_bits: Option<i32>,
    pub revision: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// The certificate and what was derived from it: fixed for the life of a mapping (a renewed
/// certificate is a new certificate, so a new mapping).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = mappings)]
pub struct CertificateValues {
    pub certificate: Vec<u8>,
    pub sha1: String,
    pub sha256: String,
    pub spki_sha256: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub san_dns: Vec<String>,
    pub san_email: Vec<String>,
    pub san_uri: Vec<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub key_type: String,
    pub key_bits: Option<i32>,
}

/// What a user may change on a mapping.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = mappings, treat_none_as_null = true)]
pub struct MappingValues {
    pub user_name: String,
    pub password_enc: Option<Vec<u8>>,
    pub enabled: bool,
    pub description: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    pub allow_expired: bool,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = mappings)]
pub struct NewMapping {
    pub site_id: i64,
    #[diesel(embed)]
    pub values: MappingValues,
    #[diesel(embed)]
    pub certificate: CertificateValues,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = many_to_one_mappings, check_for_backend(diesel::pg::Pg))]
pub struct ManyToOne {
    pub id: i64,
    pub site_id: i64,
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub permission_mode: String,
    pub user_name: Option<String>,
    pub password_enc: Option<Vec<u8>>,
    pub rules: serde_json::Value,
    pub revision: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = many_to_one_mappings, treat_none_as_null = true)]
pub struct ManyToOneValues {
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub permission_mode: String,
    pub user_name: Option<String>,
    pub password_enc: Option<Vec<u8>>,
    pub rules: serde_json::Value,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
pub struct AuditEvent {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub site_id: Option<i64>,
    pub resource: String,
    pub resource_id: Option<i64>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub remote_addr: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent {
    pub actor: String,
    pub role: String,
    pub action: String,
    pub site_id: Option<i64>,
    pub resource: String,
    pub resource_id: Option<i64>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub remote_addr: Option<String>,
}
