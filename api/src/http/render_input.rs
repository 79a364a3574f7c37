//! A site read whole, in one consistent transaction, as the renderers see it (passwords only when
//! asked for). Gateways read their sites from `crate::gateway` instead.

use certmap_db::queries::{directories, many_to_one, mappings};
use certmap_db::PgConnection;

use super::caller::Caller;
use super::many_to_one::{mode_of, rules_of};
use super::problem::ApiError;
use super::sites::{policy_of, require_site, spec_of};
use crate::domain::revocation::Check;
use certmap_db::models::Site;
use crate::domain::names::UserName;
use crate::render::snapshot::{CertificateFacts, StoredCertificate};
use crate::render::{ManyToOne, OneToOne, SiteSnapshot};
use crate::secrets::{SecretKeys, SecretKind};

/// With `secrets`, passwords are decrypted into the snapshot; without, only `has_password` says
/// whether one exists.
pub fn load(
    conn: &mut PgConnection,
    site_id: i64,
    caller: &Caller,
    secrets: Option<&SecretKeys>,
) -> Result<SiteSnapshot, ApiError> {
    let site = require_site(conn, site_id, caller)?;
    let spec = spec_of(&site)?;
    let corrupt = |what: String| ApiError::Internal(format!("site {site_id}: {what}"));
    let directories =
        directories::all(conn, site_id)?.iter().map(super::directories::spec_of).collect::<Result<Vec<_>, _>>()?;
    let revoked = revoked(conn, &site)?;
    let mut one_to_one = Vec::new();
    mappings::for_snapshot(conn, site_id, |row| {
        let m = row.mapping;
        // A revoked certificate is rendered nowhere, like an expired mapping.
        if revoked.binary_search(&m.id).is_ok() {
            return Ok(());
        }
        let password = match (secrets, &row.password_enc) {
            (Some(keys), Some(blob)) => {
                Some(keys.decrypt(SecretKind::OneToOne, blob).map_err(|e| corrupt(format!("mapping {}: {e}", m.id)))?)
            }
            _ => None,
        };
        let facts = CertificateFacts {
            sha1: m.sha1,
            sha256: m.sha256,
            spki_sha256: m.spki_sha256,
            subject: m.subject,
            issuer: m.issuer,
            serial: m.serial,
            not_before: m.not_before,
            not_after: m.not_after,
        };
        one_to_one.push(OneToOne {
            id: m.id,
            user_name: UserName::parse(&m.user_name).map_err(|_| corrupt(format!("mapping {} user", m.id)))?,
            enabled: m.enabled,
            certificate: StoredCertificate::new(row.certificate, facts),
            password,
            has_password: row.password_enc.is_some(),
            expires_at: m.expires_at,
        });
        Ok::<_, ApiError>(())
    })?;
    let mut many = Vec::new();
    for row in many_to_one::all(conn, site_id)? {
        let password = match (secrets, &row.password_enc) {
            (Some(keys), Some(blob)) => Some(
                keys.decrypt(SecretKind::ManyToOne, blob)
                    .map_err(|e| corrupt(format!("many-to-one {}: {e}", row.id)))?,
            ),
            _ => None,
        };
        let user_name = row
            .user_name
            .as_deref()
            .map(UserName::parse)
            .transpose()
            .map_err(|_| corrupt(format!("many-to-one {} user", row.id)))?;
        many.push(ManyToOne {
            id: row.id,
            rules: rules_of(&row)?,
            mode: mode_of(&row),
            name: row.name,
            description: row.description,
            enabled: row.enabled,
            user_name,
            password,
            has_password: row.password_enc.is_some(),
        });
    }
    Ok(SiteSnapshot {
        id: site.id,
        revision: site.revision,
        name: spec.name,
        hostnames: spec.hostnames,
        mapping: spec.mapping,
        revocation: spec.revocation,
        directories,
        one_to_one,
        many_to_one: many,
    })
}

/// The site's enabled mappings whose certificate a held CRL revokes (none when its policy checks
/// nothing), in id order.
pub fn revoked(conn: &mut PgConnection, site: &Site) -> Result<Vec<i64>, ApiError> {
    if policy_of(site).unwrap_or_default().check == Check::Off {
        return Ok(Vec::new());
    }
    Ok(certmap_db::queries::crls::revoked_mapping_ids(conn, site.id)?)
}

/// The rendering options as an ETag names them, with the revoked mappings appended: a new CRL
/// that revokes a mapped certificate changes the output, and so the tag, without a revision.
pub fn tag_options(query_string: &str, revoked: &[i64]) -> String {
    if revoked.is_empty() {
        return query_string.to_owned();
    }
    let ids: Vec<String> = revoked.iter().map(i64::to_string).collect();
    format!("{query_string}#revoked={}", ids.join(","))
}
