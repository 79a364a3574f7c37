//! Turning what a client sent into a [`Certificate`]: a JSON string field, or a raw body
//! (`application/x-pem-file`, `application/pkix-cert`, `text/plain`) for `curl --data-binary @cert.pem`.

use actix_web::HttpRequest;

use super::extract::{is_json, media_type};
use super::problem::ApiError;
use crate::domain::certificate::{Certificate, CertificateError, Parsed};
use crate::domain::violation::{Rejection, Violation};

/// The media types a raw certificate body may have.
pub const RAW_CERTIFICATE_TYPES: [&str; 5] = [
    "application/x-pem-file",
    "application/pkix-cert",
    "application/x-x509-ca-cert",
    "application/octet-stream",
    "text/plain",
];

pub enum BodyKind {
    Json,
    RawCertificate,
}

pub fn body_kind(req: &HttpRequest) -> Result<BodyKind, ApiError> {
    let media = media_type(req);
    if is_json(&media) {
        Ok(BodyKind::Json)
    } else if RAW_CERTIFICATE_TYPES.contains(&media.as_str()) {
        Ok(BodyKind::RawCertificate)
    } else {
        Err(ApiError::UnsupportedMediaType {
            expected: "application/json, or the certificate itself as application/x-pem-file, application/pkix-cert, application/x-x509-ca-cert, application/octet-stream or text/plain",
        })
    }
}

pub fn certificate_violation(e: &CertificateError, field: &str) -> Violation {
    let v = Rejection::new(e.code(), e.to_string()).at(field);
    if e.code() == "invalid-certificate" {
        // The seed's other failure: a damaged blob pasted into IIS.
        v.with_symptom("401.1 Unauthorized, 0x80093102: IIS cannot decode the certificate")
    } else {
        v
    }
}

/// A certificate and, when the input held more than one, a warning saying which was used.
pub fn with_warning(parsed: Parsed) -> (Certificate, Option<String>) {
    let warning = (parsed.ignored_certificates > 0).then(|| {
        format!(
            "the input held {} certificates; the first ({}) was used and the rest ignored",
            parsed.ignored_certificates + 1,
            parsed.certificate.info().subject
        )
    });
    (parsed.certificate, warning)
}

pub fn parse_text(raw: &str, field: &str) -> Result<(Certificate, Option<String>), Violation> {
    Certificate::parse_text(raw).map(with_warning).map_err(|e| certificate_violation(&e, field))
}

pub fn parse_bytes(raw: &[u8], field: &str) -> Result<(Certificate, Option<String>), Violation> {
    Certificate::parse_bytes(raw).map(with_warning).map_err(|e| certificate_violation(&e, field))
}
