//! Bulk import of one-to-one mappings: a JSON array or NDJSON, all or nothing.

use std::collections::HashMap;

use actix_web::{post, web, HttpRequest, HttpResponse};
use certmap_db::models::NewMapping;
use certmap_db::queries::mappings as q;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::audit::Change;
use super::caller::Caller;
use super::extract::{is_json, media_type, parse_json, read_body};
use super::mappings::{CreateMapping, MappingRequest};
use super::problem::ApiError;
use super::write::Writer;
use super::{db, AppState};
use crate::domain::violation::{Invalid, Rejection, Violation};

pub const BULK_BODY_LIMIT: usize = 512 * 1024 * 1024;
/// One NDJSON line: a mapping with a PEM certificate is a few KiB.
const MAX_LINE: usize = 1024 * 1024;
/// Enough to fix a batch from; the count of the rest is reported too.
const MAX_REPORTED_ERRORS: usize = 1_000;
/// From this many rows an import refreshes the planner's statistics itself (a fraction of a second)
/// rather than leave lookups planned for the table as it was until autovacuum comes by.
const ANALYZE_FROM: usize = 10_000;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(bulk_create);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResult {
    pub site_id: i64,
    pub created: usize,
    /// The site revision after the import.
    pub revision: i64,
}

/// One item's mistakes, each field prefixed with the item's index (`[12].certificate`).
fn at_index(index: usize, Invalid(vs): Invalid) -> impl Iterator<Item = Violation> {
    vs.into_iter().map(move |mut v| {
        v.field = if v.field.is_empty() { format!("[{index}]") } else { format!("[{index}].{}", v.field) };
        v
    })
}

/// The batch as it is read: checked rows, every refusal by item index, and where each certificate
/// first appeared (a duplicate within the batch is refused like one already on the site).
struct Batch {
    state: web::Data<AppState>,
    site_id: i64,
    now: OffsetDateTime,
    next_index: usize,
    rows: Vec<NewMapping>,
    violations: Vec<Violation>,
    first_seen: HashMap<String, usize>,
}

impl Batch {
    fn add(&mut self, item: &[u8]) {
        let index = self.next_index;
        self.next_index += 1;
        let built = parse_json::<CreateMapping>(item)
            .map_err(|e| match e {
                ApiError::Invalid(inv) => inv,
                ApiError::BadRequest { code, detail } => Invalid::one(Rejection::new(code, detail).at("")),
                other => Invalid::one(Rejection::new("invalid-item", other.to_string()).at("")),
            })
            .and_then(|c| MappingRequest::from(c).build(&self.state.secrets, self.site_id, self.now));
        match built {
            Ok((row, _)) => match self.first_seen.get(&row.certificate.sha256) {
                Some(first) => self.violations.push(
                    Rejection::new("duplicate-certificate", format!("the same certificate as item {first}"))
                        .at(format!("[{index}].certificate")),
                ),
                None => {
                    self.first_seen.insert(row.certificate.sha256.clone(), index);
                    self.rows.push(row);
                }
            },
            Err(inv) => self.violations.extend(at_index(index, inv)),
        }
    }
}

/// NDJSON is checked line by line as it arrives, so the body is never held whole: only the rows
/// that will be written are. Parsing and encryption run on the blocking pool, a chunk at a time,
/// so a large import does not stall the other requests of its worker.
async fn read_ndjson(mut payload: actix_web::dev::Payload, mut batch: Batch) -> Result<Batch, ApiError> {
    let mut pending = web::BytesMut::new();
    let mut total = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest {
            code: "unreadable-body",
            detail: format!("the request body could not be read: {e}"),
        })?;
        total += chunk.len();
        if total > BULK_BODY_LIMIT {
            return Err(ApiError::PayloadTooLarge { limit: BULK_BODY_LIMIT });
        }
        pending.extend_from_slice(&chunk);
        let complete = match pending.iter().rposition(|b| *b == b'\n') {
            Some(end) => pending.split_to(end + 1).freeze(),
            None if pending.len() > MAX_LINE => return Err(ApiError::PayloadTooLarge { limit: MAX_LINE }),
            None => continue,
        };
        batch = web::block(move || {
            complete.split(|b| *b == b'\n').for_each(|line| batch.add_line(line));
            batch
        })
        .await?;
    }
    web::block(move || {
        batch.add_line(&pending);
        batch
    })
    .await
    .map_err(Into::into)
}

impl Batch {
    fn add_line(&mut self, line: &[u8]) {
        if line.iter().any(|b| !b.is_ascii_whitespace()) {
            self.add(line);
        }
    }
}

fn json_array_items(body: &[u8]) -> Result<Vec<&RawValue>, ApiError> {
    // Borrowed slices of the body: the items are not copied before they are parsed.
    serde_json::from_slice::<Vec<&RawValue>>(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::Invalid(Invalid::one(
            Rejection::new("invalid-field", "the body must be a JSON array of mapping objects").at(""),
        )),
        _ => ApiError::BadRequest { code: "malformed-json", detail: format!("the body is not valid JSON: {e}") },
    })
}

/// Create many one-to-one mappings at once
///
/// Create many mappings in one transaction: every item is checked (certificate, account,
/// password, duplicates within the batch and on the site) and nothing is written unless all pass.
/// Send a JSON array of mapping objects, or NDJSON (`application/x-ndjson`, one object per line).
/// A refusal (422) lists each bad item in `errors`, whose `field` starts with the item's index
/// (`[12].certificate`).
///
/// 201 with the number created and the site's new revision. The site's revision moves (so its ETag,
/// rendered config and gateway snapshots change) and the change is audited. A token limited to
/// other sites gets 403, also for a site id that does not exist (a 404 would tell it which ids
/// exist).
#[utoipa::path(tag = "mappings", params(("site_id" = i64, Path)),
    request_body(content((Vec<CreateMapping> = "application/json"), (String = "application/x-ndjson")),
        description = "The same objects as a single create, as a JSON array or one per line"),
    responses(
        (status = 201, body = BulkResult),
        (status = 400, response = super::problem::BadRequest),
        (status = 404, response = super::problem::NotFound),
        (status = 413, response = super::problem::TooLarge),
        (status = 415, response = super::problem::UnsupportedMedia),
        (status = 422, response = super::problem::Unprocessable),
        (status = 503, response = super::problem::Unavailable),
    ))]
#[post("/sites/{site_id}/mappings:bulk")]
pub async fn bulk_create(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let writer = Writer::admit(&state, caller)?;
    let site_id = path.into_inner();
    let media = media_type(&req);
    let ndjson = media == "application/x-ndjson" || media == "application/jsonl";
    if !ndjson && !is_json(&media) {
        return Err(ApiError::UnsupportedMediaType {
            expected: "a JSON array (application/json) or NDJSON (application/x-ndjson)",
        });
    }
    let now = OffsetDateTime::now_utc();
    let mut batch = Batch {
        state: state.clone(),
        site_id,
        now,
        next_index: 0,
        rows: Vec::new(),
        violations: Vec::new(),
        first_seen: HashMap::new(),
    };
    let batch = if ndjson {
        read_ndjson(payload.into_inner(), batch).await?
    } else {
        let body = read_body(payload.into_inner(), BULK_BODY_LIMIT).await?;
        web::block(move || {
            for item in json_array_items(&body)? {
                batch.add(item.get().as_bytes());
            }
            Ok::<_, ApiError>(batch)
        })
        .await??
    };
    let Batch { rows, mut violations, first_seen, .. } = batch;
    if rows.is_empty() && violations.is_empty() {
        violations.push(Rejection::new("empty-bulk", "the body holds no mappings").at(""));
    }
    let result = writer
        .under_site(site_id, move |conn, locked| {
            let shas: Vec<String> = rows.iter().map(|r| r.certificate.sha256.clone()).collect();
            for (sha, existing) in q::existing(conn, site_id, &shas)? {
                violations.push(
                    Rejection::new(
                        "duplicate-certificate",
                        format!("this certificate is already mapped on this site by mapping {existing}"),
                    )
                    .at(format!("[{}].certificate", first_seen[&sha])),
                );
            }
            if !violations.is_empty() {
                violations.sort_by_key(|v| index_of(&v.field));
                let total = violations.len();
                violations.truncate(MAX_REPORTED_ERRORS);
                if total > MAX_REPORTED_ERRORS {
                    violations.push(
                        Rejection::new(
                            "more-errors",
                            format!("{} more items were refused", total - MAX_REPORTED_ERRORS),
                        )
                        .at(""),
                    );
                }
                return Err(ApiError::Invalid(Invalid(violations)));
            }
            let created = q::insert_many(conn, &rows)?;
            // One event for the batch: the certificates it added, not 100,000 copies of them.
            let added: Vec<&str> = rows.iter().map(|r| r.certificate.sha256.as_str()).collect();
            let after = serde_json::json!({"created": created, "sha256": added});
            let audit = Change {
                action: "mapping.bulk_create",
                site_id: Some(site_id),
                resource: "mapping",
                resource_id: None,
                before: None,
                after: Some(after),
            };
            Ok((BulkResult { site_id, created, revision: locked.revision }, audit))
        })
        .await?;
    if result.created >= ANALYZE_FROM {
        // The rows are committed either way; stale statistics only make lookups slower.
        if let Err(e) = db::run(&state.pool, |conn| Ok(q::analyze(conn)?)).await {
            tracing::warn!(error = %e, "could not refresh the mappings statistics after a bulk import");
        }
    }
    Ok(HttpResponse::Created().json(result))
}

fn index_of(field: &str) -> usize {
    field.strip_prefix('[').and_then(|f| f.split(']').next()).and_then(|n| n.parse().ok()).unwrap_or(usize::MAX)
}
