//! Bulk import of one-to-one mappings: a JSON array or NDJSON, all or nothing.

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::mpsc::{Receiver, SyncSender};

use actix_web::{post, web, HttpRequest, HttpResponse};
use certmap_db::models::NewMapping;
use certmap_db::queries::{mappings as q, sites};
use certmap_db::PgConnection;
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
use crate::secrets::{Password, SecretKeys, SecretKind, SecretOwner};

/// At most this many mappings per request.
pub const MAX_BULK_ITEMS: usize = 1_000_000;
/// What [`MAX_BULK_ITEMS`] mappings need as NDJSON: a P-256 client certificate in PEM with an
/// account and a password is about 900 bytes, 2048-bit RSA about 1,500. The body is never held
/// whole (both forms are parsed as they arrive), so the limit bounds time, not memory.
pub const BULK_BODY_LIMIT: usize = 512 * 1024 * 1024;
/// One NDJSON line: a mapping with a PEM certificate is a few KiB.
const MAX_LINE: usize = 1024 * 1024;
/// Rows per COPY: the reader checks the next chunk while PostgreSQL ingests this one, and only
/// a few chunks are ever held.
const COPY_CHUNK: usize = 2_000;
/// The first chunk, doubled at each until [`COPY_CHUNK`]: an import of a few hundred rows is
/// written while it is still being read, not after (one chunk of 2,000 would hold all of it).
const FIRST_CHUNK: usize = 125;
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

/// Refusals by item index: the first [`MAX_REPORTED_ERRORS`] kept, the rest counted.
#[derive(Default)]
struct Refusals {
    kept: Vec<Violation>,
    unreported: usize,
}

impl Refusals {
    fn push(&mut self, violations: impl IntoIterator<Item = Violation>) {
        for v in violations {
            if self.kept.len() < MAX_REPORTED_ERRORS {
                self.kept.push(v);
            } else {
                self.unreported += 1;
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// The reader's and the writer's refusals as one answer, in item order.
    fn merge(mut self, other: Refusals) -> ApiError {
        self.kept.extend(other.kept);
        self.kept.sort_by_key(|v| index_of(&v.field));
        let total = self.kept.len() + self.unreported + other.unreported;
        self.kept.truncate(MAX_REPORTED_ERRORS);
        if total > MAX_REPORTED_ERRORS {
            self.kept.push(
                Rejection::new("more-errors", format!("{} more items were refused", total - MAX_REPORTED_ERRORS))
                    .at(""),
            );
        }
        ApiError::Invalid(Invalid(self.kept))
    }
}

/// A checked item on its way to COPY.
struct Checked {
    index: usize,
    row: NewMapping,
    password: Option<Password>,
}

/// What the reader hands the writer: rows in item order, a chunk at a time, then the end of the
/// body with the reader's refusals. A reader that stops without `End` (a body too large, broken
/// JSON) leaves the writer to roll back.
enum ToWriter {
    Rows(Vec<Checked>),
    End { refusals: Refusals, items: usize },
}

/// The batch as it is read: each item checked and, while none has been refused, sent on to COPY;
/// every refusal by item index, and where each certificate first appeared (a duplicate within the
/// batch is refused like one already on the site). Only a chunk of rows is held at a time.
struct Batch {
    site_id: i64,
    now: OffsetDateTime,
    next_index: usize,
    chunk: Vec<Checked>,
    chunk_size: usize,
    refusals: Refusals,
    /// By SHA-256 bytes: 32 bytes and an index per item, not the item.
    first_seen: HashMap<[u8; 32], usize>,
    writer: SyncSender<ToWriter>,
    /// The writer stopped (its transaction failed): its error is the answer, reading is pointless.
    writer_gone: bool,
}

impl Batch {
    fn new(site_id: i64, writer: SyncSender<ToWriter>) -> Self {
        Self {
            site_id,
            now: OffsetDateTime::now_utc(),
            next_index: 0,
            chunk: Vec::with_capacity(FIRST_CHUNK),
            chunk_size: FIRST_CHUNK,
            refusals: Refusals::default(),
            first_seen: HashMap::new(),
            writer,
            writer_gone: false,
        }
    }

    fn refuse(&mut self, violations: impl IntoIterator<Item = Violation>) {
        self.refusals.push(violations);
        // The batch will be refused: the rows it holds will never be written.
        self.chunk = Vec::new();
    }

    fn send(&mut self, message: ToWriter) {
        if self.writer.send(message).is_err() {
            self.writer_gone = true;
        }
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
            Ok(BuiltMapping { row, password, .. }) => match self.first_seen.get(&sha256_key(&row.certificate.sha256)) {
                Some(first) => {
                    let first = *first;
                    self.refuse([Rejection::new(
                        "duplicate-certificate",
                        format!("the same certificate as item {first}"),
                    )
                    .at(format!("[{index}].certificate"))])
                }
                None => {
                    self.first_seen.insert(sha256_key(&row.certificate.sha256), index);
                    if self.refusals.is_empty() {
                        self.chunk.push(Checked { index, row, password });
                        if self.chunk.len() == self.chunk_size {
                            self.chunk_size = (self.chunk_size * 2).min(COPY_CHUNK);
                            let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(self.chunk_size));
                            self.send(ToWriter::Rows(full));
                        }
                    }
                }
            },
            Err(inv) => self.refuse(at_index(index, inv)),
        }
    }

    fn add_line(&mut self, line: &[u8]) {
        if line.iter().any(|b| !b.is_ascii_whitespace()) {
            self.add(line);
        }
    }

    /// The body was read to its end: the last rows, then the reader's verdict.
    fn finish(mut self) {
        if !self.chunk.is_empty() {
            let last = std::mem::take(&mut self.chunk);
            self.send(ToWriter::Rows(last));
        }
        let refusals = std::mem::take(&mut self.refusals);
        self.send(ToWriter::End { refusals, items: self.next_index });
    }
}

/// The body's chunks from the request to the reading thread; `None` says the body ended whole.
type BodyChunks = tokio::sync::mpsc::Sender<Option<web::Bytes>>;
type BodyReceiver = tokio::sync::mpsc::Receiver<Option<web::Bytes>>;

/// Forwards the body as it arrives; stops at the size limit (dropping the channel without the
/// end mark, so nothing is written) or when the reader has stopped.
async fn forward_body(mut payload: actix_web::dev::Payload, chunks: BodyChunks) -> Result<(), ApiError> {
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
        // A send fails only when the reader has stopped: its outcome is the answer.
        if chunks.send(Some(chunk)).await.is_err() {
            return Ok(());
        }
    }
    let _ = chunks.send(None).await;
    Ok(())
}

/// NDJSON, line by line as it arrives.
fn read_ndjson(receiver: BodyReceiver, mut batch: Batch) -> Result<(), ApiError> {
    let mut body = std::io::BufReader::with_capacity(64 * 1024, ChunkReader { receiver, current: web::Bytes::new() });
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = std::io::Read::take(&mut body, MAX_LINE as u64 + 1).read_until(b'\n', &mut line).map_err(cut_off)?;
        if read == 0 {
            break;
        }
        if line.len() > MAX_LINE {
            return Err(ApiError::PayloadTooLarge { limit: MAX_LINE });
        }
        batch.add_line(&line);
        if batch.writer_gone {
            return Ok(());
        }
    }
    batch.finish();
    Ok(())
}

/// A JSON array, element by element as it arrives: neither the body nor a list of its items is
/// ever held.
fn read_json_array(receiver: BodyReceiver, mut batch: Batch) -> Result<(), ApiError> {
    let mut de = serde_json::Deserializer::from_reader(ChunkReader { receiver, current: web::Bytes::new() });
    let parsed = serde::Deserializer::deserialize_seq(&mut de, Items(&mut batch)).and_then(|()| de.end());
    // The items were left unread: the writer's error is the answer.
    if batch.writer_gone {
        return Ok(());
    }
    parsed.map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::Invalid(Invalid::one(
            Rejection::new("invalid-field", "the body must be a JSON array of mapping objects").at(""),
        )),
        serde_json::error::Category::Io => cut_off(e.into()),
        _ => super::extract::malformed(&e),
    })?;
    batch.finish();
    Ok(())
}

/// The body stopped before its end: the request side already has the answer (413, unreadable).
fn cut_off(e: std::io::Error) -> ApiError {
    ApiError::BadRequest { code: "unreadable-body", detail: format!("the request body could not be read: {e}") }
}

/// The body's chunks as `std::io::Read`; a channel closed without the end mark is an error, so
/// a cut-off body never reads as a complete one.
struct ChunkReader {
    receiver: BodyReceiver,
    current: web::Bytes,
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(Some(next)) => self.current = next,
                Some(None) => return Ok(0),
                None => return Err(std::io::Error::other("the body was cut off")),
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
            if self.0.writer_gone {
                break;
            }
        }
        Ok(())
    }
}

/// The writer's side, inside the site's transaction: each chunk checked against the certificates
/// the site already maps and written by COPY while the reader checks the next, so certmap's
/// parsing and PostgreSQL's ingest overlap. Any refusal, from either side, rolls it all back.
fn write_rows(
    conn: &mut PgConnection,
    secrets: &SecretKeys,
    site_id: i64,
    rows: Receiver<ToWriter>,
) -> Result<(usize, Vec<String>), ApiError> {
    // The site is locked for this write, so what it maps cannot change under us.
    let mut on_site = HashMap::new();
    q::for_site_certificates(conn, site_id, |sha, id| {
        on_site.insert(sha256_key(&sha), id);
    })?;
    let mut refusals = Refusals::default();
    let mut created = 0;
    let mut added = Vec::new();
    let mut passwords = Vec::new();
    let (reader_refusals, items) = loop {
        match rows.recv() {
            Ok(ToWriter::Rows(chunk)) => {
                for Checked { index, row, .. } in &chunk {
                    if let Some(existing) = on_site.get(&sha256_key(&row.certificate.sha256)) {
                        refusals.push([Rejection::new(
                            "duplicate-certificate",
                            format!("this certificate is already mapped on this site by mapping {existing}"),
                        )
                        .at(format!("[{index}].certificate"))]);
                    }
                }
                if refusals.is_empty() {
                    created += q::insert_many(conn, chunk.iter().map(|c| &c.row))?;
                    for Checked { row, password, .. } in chunk {
                        if let Some(password) = password {
                            passwords.push((row.certificate.sha256.clone(), password));
                        }
                        added.push(row.certificate.sha256);
                    }
                }
            }
            Ok(ToWriter::End { refusals, items }) => break (refusals, items),
            // The reader stopped before the end of the body: its error is the answer.
            Err(_) => return Err(ApiError::Internal("the bulk reader stopped".into())),
        }
    };
    if items == 0 {
        refusals.push([Rejection::new("empty-bulk", "the body holds no mappings").at("")]);
    }
    if !refusals.is_empty() || !reader_refusals.is_empty() {
        return Err(reader_refusals.merge(refusals));
    }
    // Format v2 binds each sealed password to its row id, which COPY has just assigned.
    let shas: Vec<&str> = passwords.iter().map(|(sha, _)| sha.as_str()).collect();
    let ids: HashMap<String, i64> = q::existing(conn, site_id, &shas)?.into_iter().collect();
    for (sha, password) in &passwords {
        let owner = SecretOwner { kind: SecretKind::OneToOne, site_id, id: ids[sha] };
        store_new_password(conn, secrets, owner, password)?;
    }
    Ok((created, added))
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
/// Rows are written as they are checked, inside the site's transaction: the site's other writes
/// wait until the import ends.
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
    let (chunks, body) = tokio::sync::mpsc::channel(8);
    let (to_writer, rows) = std::sync::mpsc::sync_channel(2);
    let batch = Batch::new(site_id, to_writer);
    let reading = web::block(move || if ndjson { read_ndjson(body, batch) } else { read_json_array(body, batch) });
    let keys = state.clone();
    let writing = writer.under_site(site_id, move |conn, locked| {
        let (created, added) = write_rows(conn, &keys.secrets, site_id, rows)?;
        // One event for the batch: the certificates it added, not 100,000 copies of them.
        let added: Vec<serde_json::Value> = added.into_iter().map(serde_json::Value::String).collect();
        let audit = Change {
            action: "mapping.bulk_create",
            site_id: Some(site_id),
            resource: "mapping",
            resource_id: None,
            before: None,
            after: Some(serde_json::json!({"created": created, "sha256": added})),
        };
        Ok((BulkResult { site_id, created, revision: locked.revision }, audit))
    });
    let (forwarded, read, written) =
        futures_util::future::join3(forward_body(payload.into_inner(), chunks), reading, writing).await;
    // The request's and the reader's errors first: when they stop, the writer only rolls back.
    forwarded?;
    read??;
    let result = written?;
    if result.created >= ANALYZE_FROM {
        // The rows are committed either way; stale statistics only make lookups slower.
        if let Err(e) = db::run(&state.pool, |conn| Ok(q::analyze(conn)?)).await {
            tracing::warn!(error = %e, "could not refresh the mappings statistics after a bulk import");
        }
    }
    Ok(HttpResponse::Created().json(result))
}

/// A stored SHA-256 (lowercase hex, as certmap computed it) as bytes.
fn sha256_key(hex: &str) -> [u8; 32] {
    let mut key = [0; 32];
    // Computed by certmap from the DER: always 64 hex digits.
    let _ = hex::decode_to_slice(hex, &mut key);
    key
}

fn index_of(field: &str) -> usize {
    field.strip_prefix('[').and_then(|f| f.split(']').next()).and_then(|n| n.parse().ok()).unwrap_or(usize::MAX)
}
