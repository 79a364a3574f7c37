//! A site read whole, in one consistent transaction, as the renderers see it (passwords only when
//! asked for). Gateways read their sites from `crate::gateway` instead.

use std::sync::Arc;

use certmap_db::models::{GatewayMapping, ManyToOne as ManyToOneRow, Site};
use certmap_db::queries::{directories, many_to_one, mappings};
use certmap_db::PgConnection;
use time::OffsetDateTime;

use super::caller::Caller;
use super::many_to_one::{mode_of, rules_of};
use super::problem::ApiError;
use super::sites::{policy_of, require_site, spec_of};
use crate::domain::names::UserName;
use crate::domain::revocation::Check;
use crate::gateway::site_view::SiteView;
use crate::render::snapshot::{CertificateFacts, StoredCertificate};
use crate::render::{ManyToOne, OneToOne, SiteSnapshot};
use crate::secrets::{SecretKeys, SecretKind, SecretOwner};

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
        // A revoked certificate is rendered nowhere, like an expired mapping.
        if revoked.binary_search(&row.mapping.id).is_ok() {
            return Ok(());
        }
        let password = match (secrets, &row.password_enc) {
            (Some(keys), Some(blob)) => Some(
                keys.decrypt(SecretOwner { kind: SecretKind::OneToOne, site_id, id: row.mapping.id }, blob)
                    .map_err(|e| corrupt(format!("mapping {}: {e}", row.mapping.id)))?,
            ),
            _ => None,
        };
        let mut one = one_to_one_of(site_id, row.mapping, Some(row.certificate))?;
        one.password = password;
        one_to_one.push(Arc::new(one));
        Ok::<_, ApiError>(())
    })?;
    let many = many_to_one::all(conn, site_id)?
        .into_iter()
        .map(|row| many_to_one_of(site_id, row, secrets))
        .collect::<Result<Vec<_>, _>>()?;
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

/// The site for a format that needs no certificate bytes: `cached`, the gateway cache's copy when
/// the caller found it at this transaction's revision, else read here (still without the DER).
pub fn from_view(
    conn: &mut PgConnection,
    site_id: i64,
    cached: Option<Arc<SiteView>>,
    now: OffsetDateTime,
    revoked: &[i64],
) -> Result<SiteSnapshot, ApiError> {
    let view = match cached {
        Some(view) => view,
        // Another replica's change has not reached the cache yet.
        None => Arc::new(SiteView::load(conn, site_id)?.ok_or(ApiError::NotFound { what: "site" })?),
    };
    Ok(view.render_snapshot(now, revoked))
}

/// A stored mapping as renderers see it, without a password; with its certificate's DER when the
/// format needs it (IIS, PowerShell, Apache).
pub fn one_to_one_of(site_id: i64, m: GatewayMapping, der: Option<Vec<u8>>) -> Result<OneToOne, ApiError> {
    let user_name = UserName::parse(&m.user_name)
        .map_err(|_| ApiError::Internal(format!("site {site_id}: mapping {} user", m.id)))?;
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
    Ok(OneToOne {
        id: m.id,
        user_name,
        enabled: m.enabled,
        certificate: match der {
            Some(der) => StoredCertificate::new(der, facts),
            None => StoredCertificate::facts_only(facts),
        },
        password: None,
        has_password: m.has_password,
        expires_at: m.expires_at,
    })
}

/// A stored many-to-one mapping as renderers see it; its password decrypted only with `secrets`.
pub fn many_to_one_of(site_id: i64, row: ManyToOneRow, secrets: Option<&SecretKeys>) -> Result<ManyToOne, ApiError> {
    let corrupt = |what: String| ApiError::Internal(format!("site {site_id}: {what}"));
    let password = match (secrets, &row.password_enc) {
        (Some(keys), Some(blob)) => Some(
            keys.decrypt(super::many_to_one::owner_of(&row), blob)
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
    Ok(ManyToOne {
        id: row.id,
        rules: rules_of(&row)?,
        mode: mode_of(&row),
        has_password: row.password_enc.is_some(),
        name: row.name,
        description: row.description,
        enabled: row.enabled,
        user_name,
        password,
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
