//! Bulk import of one-to-one mappings: a JSON array or NDJSON, all or nothing.

use std::collections::HashMap;

use actix_web::{post, web, HttpRequest, HttpResponse};
use certmap_db::models::NewMapping;
use certmap_db::queries::{mappings as q, sites};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::audit::Change;
use super::caller::{Access, Caller};
use super::extract::{is_json, media_type, parse_json};
use super::mappings::{store_new_password, BuiltMapping, CreateMapping, MappingRequest};
use super::problem::ApiError;
use super::write::Writer;
use super::{db, AppState};
use crate::domain::violation::{Invalid, Rejection, Violation};
use crate::secrets::{Password, SecretKind, SecretOwner};

/// At most this many mappings per request.
pub const MAX_BULK_ITEMS: usize = 1_000_000;
/// What [`MAX_BULK_ITEMS`] mappings need as NDJSON: a P-256 client certificate in PEM with an
/// account and a password is about 900 bytes, 2048-bit RSA about 1,500. The body is never held
/// whole (both forms are parsed as they arrive), so the limit bounds time, not memory.
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
/// Memory is bounded by the rows that will be written: once one item is refused no more rows are
/// kept, and only the first [`MAX_REPORTED_ERRORS`] refusals are (the rest are counted).
struct Batch {
    site_id: i64,
    now: OffsetDateTime,
    next_index: usize,
    rows: Vec<NewMapping>,
    /// By certificate SHA-256: sealed once their rows have ids.
    passwords: HashMap<String, Password>,
    violations: Vec<Violation>,
    /// Refusals past the first [`MAX_REPORTED_ERRORS`].
    unreported: usize,
    first_seen: HashMap<String, usize>,
}

impl Batch {
    fn new(site_id: i64) -> Self {
        Self {
            site_id,
            now: OffsetDateTime::now_utc(),
            next_index: 0,
            rows: Vec::new(),
            passwords: HashMap::new(),
            violations: Vec::new(),
            unreported: 0,
            first_seen: HashMap::new(),
        }
    }

    fn refuse(&mut self, violations: impl IntoIterator<Item = Violation>) {
        for v in violations {
            if self.violations.len() < MAX_REPORTED_ERRORS {
                self.violations.push(v);
            } else {
                self.unreported += 1;
            }
        }
        // The batch will be refused: the rows it holds will never be written.
        self.rows = Vec::new();
        self.passwords = HashMap::new();
    }

    fn add(&mut self, item: &[u8]) {
        let index = self.next_index;
        self.next_index += 1;
        if index == MAX_BULK_ITEMS {
            self.refuse([Rejection::new(
                "too-many-items",
                format!("at most {MAX_BULK_ITEMS} mappings per request; send the rest in another"),
            )
            .at(format!("[{index}]"))]);
        }
        if index >= MAX_BULK_ITEMS {
            return;
        }
        let built = parse_json::<CreateMapping>(item)
            .map_err(|e| match e {
                ApiError::Invalid(inv) => inv,
                ApiError::BadRequest { code, detail } => Invalid::one(Rejection::new(code, detail).at("")),
                other => Invalid::one(Rejection::new("invalid-item", other.to_string()).at("")),
            })
            .and_then(|c| MappingRequest::from(c).build(self.site_id, self.now));
        match built {
            Ok(BuiltMapping { row, password, .. }) => match self.first_seen.get(&row.certificate.sha256) {
                Some(first) => {
                    let first = *first;
                    self.refuse([Rejection::new(
                        "duplicate-certificate",
                        format!("the same certificate as item {first}"),
                    )
                    .at(format!("[{index}].certificate"))])
                }
                None => {
                    self.first_seen.insert(row.certificate.sha256.clone(), index);
                    if self.violations.is_empty() {
                        if let Some(password) = password {
                            self.passwords.insert(row.certificate.sha256.clone(), password);
                        }
                        self.rows.push(row);
                    }
                }
            },
            Err(inv) => self.refuse(at_index(index, inv)),
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
        // Only the new chunk is searched, so a long line costs its length once, not once a chunk.
        let held = pending.len();
        pending.extend_from_slice(&chunk);
        let complete = match chunk.iter().rposition(|b| *b == b'\n') {
            Some(end) => pending.split_to(held + end + 1).freeze(),
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

/// A JSON array is read element by element as the body arrives: the body's chunks cross to a
/// blocking thread through a small channel, where serde reads one item at a time, so neither the
/// body nor a list of its items is ever held.
async fn read_json_array(mut payload: actix_web::dev::Payload, batch: Batch) -> Result<Batch, ApiError> {
    let (chunks, receiver) = std::sync::mpsc::sync_channel::<web::Bytes>(8);
    let parsing = web::block(move || {
        let mut batch = batch;
        let mut de = serde_json::Deserializer::from_reader(ChunkReader { receiver, current: web::Bytes::new() });
        serde::Deserializer::deserialize_seq(&mut de, Items(&mut batch)).and_then(|()| de.end()).map_err(
            |e| match e.classify() {
                serde_json::error::Category::Data => ApiError::Invalid(Invalid::one(
                    Rejection::new("invalid-field", "the body must be a JSON array of mapping objects").at(""),
                )),
                _ => super::extract::malformed(&e),
            },
        )?;
        Ok::<_, ApiError>(batch)
    });
    let mut total = 0usize;
    let mut failed = None;
    while let Some(chunk) = payload.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                failed = Some(ApiError::BadRequest {
                    code: "unreadable-body",
                    detail: format!("the request body could not be read: {e}"),
                });
                break;
            }
        };
        total += chunk.len();
        if total > BULK_BODY_LIMIT {
            failed = Some(ApiError::PayloadTooLarge { limit: BULK_BODY_LIMIT });
            break;
        }
        // A send fails only when the parser has stopped (bad JSON): its error is the answer.
        if chunks.send(chunk).is_err() {
            break;
        }
    }
    drop(chunks);
    let parsed = parsing.await?;
    match failed {
        Some(e) => Err(e),
        None => parsed,
    }
}

/// The body's chunks as `std::io::Read`, for serde_json's streaming reader.
struct ChunkReader {
    receiver: std::sync::mpsc::Receiver<web::Bytes>,
    current: web::Bytes,
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.recv() {
                Ok(next) => self.current = next,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Each element of the array, handed to the batch as soon as it is read.
struct Items<'b>(&'b mut Batch);

impl<'de> serde::de::Visitor<'de> for Items<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of mapping objects")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Box<RawValue>>()? {
            self.0.add(item.get().as_bytes());
        }
        Ok(())
    }
}

/// Create many one-to-one mappings at once
///
/// Create many mappings in one transaction: every item is checked (certificate, account,
/// password, duplicates within the batch and on the site) and nothing is written unless all pass.
/// Send a JSON array of mapping objects, or NDJSON (`application/x-ndjson`, one object per line).
/// A refusal (422) lists the first 1,000 bad items in `errors`, whose `field` starts with the
/// item's index (`[12].certificate`), and counts the rest in a final `more-errors` entry.
/// At most 1,000,000 mappings and 512 MiB per request (413 beyond); the body is parsed as it
/// arrives, never held whole. Role, site and scope are checked before the body is read.
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
    let check = caller.clone();
    let writer = Writer::admit(&state, caller)?;
    let site_id = path.into_inner();
    let media = media_type(&req);
    let ndjson = media == "application/x-ndjson" || media == "application/jsonl";
    if !ndjson && !is_json(&media) {
        return Err(ApiError::UnsupportedMediaType {
            expected: "a JSON array (application/json) or NDJSON (application/x-ndjson)",
        });
    }
    // Role, site and scope before a byte of the body is read: a refused caller costs nothing.
    db::run(&state.pool, move |conn| match sites::find(conn, site_id)? {
        Some(site) => check.check_site(&site.name, Access::Write),
        None if check.is_site_scoped() => Err(Caller::out_of_scope()),
        None => Err(ApiError::NotFound { what: "site" }),
    })
    .await?;
    let batch = Batch::new(site_id);
    let batch = if ndjson {
        read_ndjson(payload.into_inner(), batch).await?
    } else {
        read_json_array(payload.into_inner(), batch).await?
    };
    let Batch { rows, passwords, mut violations, first_seen, unreported, .. } = batch;
    if rows.is_empty() && violations.is_empty() {
        violations.push(Rejection::new("empty-bulk", "the body holds no mappings").at(""));
    }
    let keys = state.clone();
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
                let total = violations.len() + unreported;
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
            let with_password: Vec<String> = passwords.keys().cloned().collect();
            for (sha, id) in q::existing(conn, site_id, &with_password)? {
                let owner = SecretOwner { kind: SecretKind::OneToOne, site_id, id };
                store_new_password(conn, &keys.secrets, owner, &passwords[&sha])?;
            }
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
