//! Reading the client certificate in the one form the caller declared, exactly as that proxy
//! writes it. Every other identity header on the request is refused, not ignored: a client can
//! send headers its gateway forgot to clear, and a fingerprint is no secret (snapshots and
//! rendered maps are full of them), so a request is never decided on a form nobody chose.
//!
//! One parser per form, each a pure function from the header's text to the client it names.
//! "No certificate" — absent, empty, Apache's `(null)`, a Caddy placeholder left unexpanded — is
//! [`Presented::None`], which authorize answers with 401 where a certificate is required.
//! Everything is read in one pass over a value of bounded size, so a hostile header (a megabyte,
//! a hundred XFCC hops) costs linear time and ends in a 4xx problem.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::domain::certificate::Certificate;
use crate::domain::client_identity::ClientIdentity;
use crate::domain::mapping::Fingerprint;
use crate::domain::violation::Rejection;
use crate::http::problem::ApiError;

/// An identity header holds one certificate or a short chain, a few KiB; more is not a gateway's.
pub const MAX_IDENTITY_HEADER_BYTES: usize = 64 * 1024;

/// How the gateway identified the client.
#[derive(Debug)]
pub enum Presented {
    None,
    /// With its DER: OCSP asks about the certificate itself.
    Certificate(Box<Certificate>),
    /// The SHA-256 or SHA-1 of a certificate certmap may have stored.
    Fingerprint(Fingerprint),
}

const INVALID: &str = "invalid-client-identity";

/// The client named by the declared form's headers, after refusing every other form's.
pub fn presented(form: ClientIdentity, headers: &HeaderMap) -> Result<Presented, ApiError> {
    refuse_other_forms(form, headers)?;
    let read = |name: &'static str, parse: fn(&str) -> Result<Presented, Rejection>| match single(headers, name)? {
        None => Ok(Presented::None),
        Some(text) => parse(text).map_err(|r| ApiError::from(r.at(name))),
    };
    match form {
        ClientIdentity::Nginx => read("x-ssl-client-cert", nginx),
        ClientIdentity::Apache => read("x-ssl-client-cert", apache),
        ClientIdentity::Traefik => read("x-forwarded-tls-client-cert", traefik),
        ClientIdentity::Caddy => read("x-caddy-client-cert", caddy),
        ClientIdentity::Haproxy => read("x-ssl-client-der", haproxy),
        ClientIdentity::Envoy => {
            const XFCC: &str = "x-forwarded-client-cert";
            match xfcc_value(headers)? {
                None => Ok(Presented::None),
                Some(text) => envoy(text).map_err(|r| ApiError::from(r.at(XFCC))),
            }
        }
        ClientIdentity::Rfc9440 => {
            let chain = single(headers, "client-cert-chain")?;
            match single(headers, "client-cert")? {
                None if chain.is_some() => Err(Rejection::new(
                    INVALID,
                    "Client-Cert-Chain was sent without Client-Cert (RFC 9440 §2.3: the chain accompanies the client's certificate)",
                )
                .at("client-cert-chain")
                .into()),
                None => Ok(Presented::None),
                Some(cert) => {
                    if let Some(chain) = chain {
                        rfc9440_chain(chain).map_err(|r| ApiError::from(r.at("client-cert-chain")))?;
                    }
                    rfc9440(cert).map_err(|r| ApiError::from(r.at("client-cert")))
                }
            }
        }
        ClientIdentity::Fingerprint => {
            for name in ["x-ssl-client-sha256", "x-ssl-client-sha1"] {
                if let Some(text) = single(headers, name)? {
                    return Fingerprint::parse(text).map(Presented::Fingerprint).map_err(|r| r.at(name).into());
                }
            }
            Ok(Presented::None)
        }
    }
}

fn refuse_other_forms(form: ClientIdentity, headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = form.headers();
    // An empty header names nobody, and is what some gateways send for "cleared".
    let carries = |value: &HeaderValue| !value.as_bytes().iter().all(u8::is_ascii_whitespace);
    // This runs on every authorize call: one pass over the request's few headers comparing names
    // as text, rather than looking up (and so parsing) each of the other forms' names. The first
    // offender in the forms' order is named, whatever the request's order.
    let rank = |name: &str| {
        ClientIdentity::ALL
            .iter()
            .flat_map(|form| form.headers())
            .position(|other| *other == name && !declared.contains(other))
    };
    let offender = headers
        .iter()
        .filter(|(name, _)| ClientIdentity::may_name_a_form(name.as_str()))
        .filter(|(_, value)| carries(value))
        .filter_map(|(name, _)| rank(name.as_str()))
        .min()
        .and_then(|i| ClientIdentity::ALL.iter().flat_map(|form| form.headers()).nth(i).copied());
    match offender {
        None => Ok(()),
        Some(name) => Err(ApiError::BadHeader {
            code: "unexpected-client-identity",
            header: name.to_owned(),
            detail: format!(
                "this credential declares the {form} client-identity form ({}), so a request carrying {name} \
                 is refused: the client may have sent it. A gateway sends exactly its declared form and clears the \
                 others; declare the form the gateway sends with --client-identity on `certmap token issue` or \
                 `certmap api-client add`",
                declared.join(", ")
            ),
        }),
    }
}

fn too_large(name: &str) -> ApiError {
    ApiError::HeaderTooLarge { header: name.to_owned(), limit: MAX_IDENTITY_HEADER_BYTES }
}

/// The text of a header that may appear once; `None` when absent or empty.
fn single<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, ApiError> {
    // A name from text would be parsed, and copied, on every call.
    let mut values = headers.get_all(HeaderName::from_static(name));
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(ApiError::BadHeader {
            code: "ambiguous-client-identity",
            header: name.to_owned(),
            detail: format!("{name} was sent more than once; a gateway sends one client certificate"),
        });
    }
    text(name, value)
}

fn text<'a>(name: &'static str, value: &'a HeaderValue) -> Result<Option<&'a str>, ApiError> {
    if value.len() > MAX_IDENTITY_HEADER_BYTES {
        return Err(too_large(name));
    }
    let text = value.to_str().map_err(|_| {
        ApiError::from(Rejection::new(INVALID, "the value is not printable ASCII, which no gateway form is").at(name))
    })?;
    Ok(Some(text.trim()).filter(|t| !t.is_empty()))
}

/// XFCC may arrive as several field lines, which HTTP joins with commas in order (RFC 9110 §5.3);
/// only the last hop matters, so only the last non-empty line is read.
fn xfcc_value(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    const XFCC: &str = "x-forwarded-client-cert";
    let mut total = 0;
    let mut last = None;
    for value in headers.get_all(HeaderName::from_static(XFCC)) {
        total += value.len();
        if total > MAX_IDENTITY_HEADER_BYTES {
            return Err(too_large(XFCC));
        }
        if let Some(text) = text(XFCC, value)? {
            last = Some(text);
        }
    }
    Ok(last)
}

fn certificate(der: &[u8]) -> Result<Certificate, Rejection> {
    Certificate::from_der(der).map_err(|e| Rejection::new(e.code(), e.to_string()))
}

fn found(certificate: Certificate) -> Presented {
    Presented::Certificate(Box::new(certificate))
}

fn base64_der(text: &str, what: &str) -> Result<Certificate, Rejection> {
    let der = STANDARD
        .decode(text)
        .map_err(|e| Rejection::new("invalid-certificate", format!("{what} is not standard base64 ({e})")))?;
    certificate(&der)
}

fn pem(text: &str) -> Result<Certificate, Rejection> {
    Certificate::parse_text(text).map(|p| p.certificate).map_err(|e| Rejection::new(e.code(), e.to_string()))
}

/// nginx `$ssl_client_escaped_cert`: the PEM, URL-encoded. Plain PEM and the IIS one-line form
/// are read too, as they always were.
pub fn nginx(text: &str) -> Result<Presented, Rejection> {
    pem(text).map(found)
}

/// Apache `RequestHeader set X-SSL-Client-Cert "%{SSL_CLIENT_CERT}s"`: mod_headers turns the PEM's
/// line breaks into spaces, and writes `(null)` when there is no certificate
/// (`header_request_ssl_var` in modules/metadata/mod_headers.c).
pub fn apache(text: &str) -> Result<Presented, Rejection> {
    if text == "(null)" {
        return Ok(Presented::None);
    }
    if !text.starts_with("-----BEGIN CERTIFICATE-----") {
        return Err(Rejection::new(
            "invalid-certificate",
            "Apache's %{SSL_CLIENT_CERT}s is a PEM certificate beginning \"-----BEGIN CERTIFICATE-----\", or (null)",
        ));
    }
    pem(text).map(found)
}

/// HAProxy `%[ssl_c_der,base64]`: the DER, standard base64, empty without a certificate.
pub fn haproxy(text: &str) -> Result<Presented, Rejection> {
    base64_der(text, "HAProxy's ssl_c_der,base64").map(found)
}

/// Caddy: `{http.request.tls.client.certificate_der_base64}` or
/// `{http.request.tls.client.fingerprint}` (SHA-256, hex). A placeholder Caddy left as written
/// means it had no certificate to put there.
pub fn caddy(text: &str) -> Result<Presented, Rejection> {
    if text.starts_with('{') && text.ends_with('}') {
        return Ok(Presented::None);
    }
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Fingerprint::parse(text).map(Presented::Fingerprint);
    }
    base64_der(text, "Caddy's certificate_der_base64").map(found)
}

/// Traefik `passTLSClientCert` with `pem: true`: each certificate's PEM without its armour and
/// line breaks (base64 DER), joined with commas, the client's own first; versions before 2.10
/// also URL-escaped each one (`sanitize` in pkg/middlewares/passtlsclientcert).
pub fn traefik(text: &str) -> Result<Presented, Rejection> {
    let text = if text.contains('%') {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map_err(|_| Rejection::new(INVALID, "the URL-escaped value does not decode to text"))?
    } else {
        text.into()
    };
    let chain = text
        .split(',')
        .enumerate()
        .map(|(i, part)| match part.trim() {
            "" => Err(Rejection::new(INVALID, format!("certificate {} of the comma-joined chain is empty", i + 1))),
            part => base64_der(part, &format!("certificate {} of the chain", i + 1)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = &chain[0];
    // Traefik puts the client's certificate first; a first certificate that issued another one in
    // the list is a CA, and taking it for the client would map the wrong certificate.
    if chain[1..].iter().any(|c| c.info().issuer == leaf.info().subject) {
        return Err(Rejection::new(
            INVALID,
            format!(
                "the first certificate ({}) issued another one in the chain: Traefik sends the client's own certificate first",
                leaf.info().subject
            ),
        ));
    }
    Ok(found(chain.into_iter().next().expect("split yields at least one part")))
}

/// RFC 9440 §2.2 `Client-Cert`: the DER as a Structured Field Byte Sequence, `:<base64>:`.
pub fn rfc9440(text: &str) -> Result<Presented, Rejection> {
    sf_binary(text).and_then(|der| certificate(&der)).map(found)
}

/// RFC 9440 §2.3 `Client-Cert-Chain`: a Structured Field List of Byte Sequences. It is not used
/// to decide, but a malformed one means something other than the declared gateway wrote it.
pub fn rfc9440_chain(text: &str) -> Result<(), Rejection> {
    for member in text.split(',') {
        certificate(&sf_binary(member.trim())?)?;
    }
    Ok(())
}

fn sf_binary(text: &str) -> Result<Vec<u8>, Rejection> {
    let inner =
        text.strip_prefix(':').and_then(|t| t.strip_suffix(':')).filter(|t| !t.contains(':')).ok_or_else(|| {
            Rejection::new(INVALID, "an RFC 9440 field is a byte sequence: the base64 DER between colons")
        })?;
    STANDARD.decode(inner).map_err(|e| Rejection::new("invalid-certificate", format!("not standard base64 ({e})")))
}

/// Envoy / Istio `x-forwarded-client-cert`: one element per hop, separated by commas; the client
/// certmap must judge is in the element added by the proxy in front of it, the last. `Cert` (the
/// URL-encoded PEM) when present — checked against `Hash` when both are — else `Hash`, the
/// SHA-256 of the certificate, as a fingerprint of a stored one.
/// (envoyproxy.io: configuration/http/http_conn_man/headers#x-forwarded-client-cert)
pub fn envoy(text: &str) -> Result<Presented, Rejection> {
    let element = split_unquoted(text, b',')?.pop().unwrap_or_default().trim();
    if element.is_empty() {
        return Err(Rejection::new(INVALID, "the last XFCC element is empty"));
    }
    let (mut cert, mut hash) = (None, None);
    for pair in split_unquoted(element, b';')? {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| Rejection::new(INVALID, format!("XFCC pair {:?} has no '='", short(pair))))?;
        let slot = match key.trim().to_ascii_lowercase().as_str() {
            "cert" => &mut cert,
            "hash" => &mut hash,
            // By, Chain, Subject, URI and DNS say nothing the certificate does not.
            _ => continue,
        };
        if slot.replace(unquote(value.trim())?).is_some() {
            return Err(Rejection::new(INVALID, format!("the last XFCC element has {} twice", key.trim())));
        }
    }
    // Envoy's Hash is always the SHA-256; forty digits would be read as a SHA-1 and must not be.
    let hash = hash.map(|h| {
        Some(h)
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|h| h.to_ascii_lowercase())
            .ok_or_else(|| Rejection::new(INVALID, "XFCC Hash is the certificate's SHA-256, 64 hex digits"))
    });
    match (cert, hash) {
        (Some(cert), hash) => {
            let pem_text = percent_encoding::percent_decode_str(&cert)
                .decode_utf8()
                .map_err(|_| Rejection::new("invalid-certificate", "XFCC Cert is not URL-encoded PEM"))?;
            let certificate = pem(&pem_text)?;
            if let Some(hash) = hash.transpose()? {
                if hash != certificate.info().sha256 {
                    return Err(Rejection::new(INVALID, "XFCC Hash is not the SHA-256 of XFCC Cert"));
                }
            }
            Ok(found(certificate))
        }
        (None, Some(hash)) => Fingerprint::parse(&hash?).map(Presented::Fingerprint),
        (None, None) => Err(Rejection::new(INVALID, "the last XFCC element has neither Cert nor Hash")),
    }
}

fn short(text: &str) -> String {
    text.chars().take(40).collect()
}

/// Splits on `separator` outside double quotes; inside them `\"` is a quote, not an end.
fn split_unquoted(text: &str, separator: u8) -> Result<Vec<&str>, Rejection> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, &b) in text.as_bytes().iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b if b == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(Rejection::new(INVALID, "an XFCC value opens a double quote it never closes"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn unquote(value: &str) -> Result<String, Rejection> {
    match value.strip_prefix('"') {
        None => Ok(value.to_owned()),
        Some(rest) => rest
            .strip_suffix('"')
            .map(|inner| inner.replace("\\\"", "\""))
            .ok_or_else(|| Rejection::new(INVALID, "an XFCC value has text after its closing quote")),
    }
}

#[cfg(test)]
mod tests {
    //! Samples built the way each proxy builds them; the comment on each parser names the source.

    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    use super::*;

    struct Chain {
        ca_der: Vec<u8>,
        leaf_der: Vec<u8>,
        leaf_pem: String,
    }

    fn chain() -> Chain {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::default();
        ca.distinguished_name.push(DnType::CommonName, "Contoso CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::default();
        leaf.distinguished_name.push(DnType::CommonName, "alice");
        let leaf = leaf.signed_by(&key, &issuer).unwrap();
        Chain { ca_der: ca_cert.der().to_vec(), leaf_der: leaf.der().to_vec(), leaf_pem: leaf.pem() }
    }

    fn sha256(der: &[u8]) -> String {
        Certificate::from_der(der).unwrap().info().sha256.clone()
    }

    #[track_caller]
    fn is_cert(p: Result<Presented, Rejection>, der: &[u8]) {
        match p {
            Ok(Presented::Certificate(cert)) => assert_eq!(cert.info().sha256, sha256(der)),
            other => panic!("expected the certificate, got {other:?}"),
        }
    }

    #[track_caller]
    fn refused(p: Result<Presented, Rejection>, code: &str) -> String {
        match p {
            Err(r) => {
                assert_eq!(r.code, code, "{}", r.message);
                r.message
            }
            Ok(other) => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// Traefik ≥ 2.10's `sanitize`: the PEM without armour or line breaks.
    fn unarmoured(der: &[u8]) -> String {
        STANDARD.encode(der)
    }

    /// Go's `url.QueryEscape`, as Traefik before 2.10 applied it to each certificate.
    fn query_escape(text: &str) -> String {
        percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    #[test]
    fn nginx_escaped_pem() {
        // ngx_escape_uri(NGX_ESCAPE_URI_COMPONENT) in ngx_ssl_get_escaped_certificate.
        let c = chain();
        let escaped =
            percent_encoding::utf8_percent_encode(&c.leaf_pem, percent_encoding::NON_ALPHANUMERIC).to_string();
        is_cert(nginx(&escaped), &c.leaf_der);
        is_cert(nginx(&c.leaf_pem), &c.leaf_der);
        refused(nginx("garbage"), "invalid-certificate");
    }

    #[test]
    fn apache_pem_with_spaces_and_null() {
        let c = chain();
        is_cert(apache(&c.leaf_pem.replace(['\n', '\r'], " ")), &c.leaf_der);
        assert!(matches!(apache("(null)"), Ok(Presented::None)));
        refused(apache(&unarmoured(&c.leaf_der)), "invalid-certificate");
    }

    #[test]
    fn haproxy_base64_der() {
        let c = chain();
        is_cert(haproxy(&STANDARD.encode(&c.leaf_der)), &c.leaf_der);
        refused(haproxy("%%%"), "invalid-certificate");
        refused(haproxy(&STANDARD.encode(b"not a certificate")), "invalid-certificate");
    }

    #[test]
    fn traefik_escaped_and_unescaped_chains_leaf_first() {
        let c = chain();
        let plain = format!("{},{}", unarmoured(&c.leaf_der), unarmoured(&c.ca_der));
        is_cert(traefik(&plain), &c.leaf_der);
        let escaped = format!("{},{}", query_escape(&unarmoured(&c.leaf_der)), query_escape(&unarmoured(&c.ca_der)));
        assert!(escaped.contains("%2B") || escaped.contains("%2F") || escaped.contains("%3D"), "{escaped}");
        is_cert(traefik(&escaped), &c.leaf_der);
        is_cert(traefik(&unarmoured(&c.leaf_der)), &c.leaf_der);
        // The CA first: taking it for the client would judge the wrong certificate.
        let reversed = format!("{},{}", unarmoured(&c.ca_der), unarmoured(&c.leaf_der));
        assert!(refused(traefik(&reversed), INVALID).contains("first"));
        refused(traefik(&format!("{},", unarmoured(&c.leaf_der))), INVALID);
    }

    #[test]
    fn caddy_der_fingerprint_or_placeholder() {
        let c = chain();
        is_cert(caddy(&STANDARD.encode(&c.leaf_der)), &c.leaf_der);
        let fp = sha256(&c.leaf_der);
        assert!(matches!(caddy(&fp.to_uppercase()), Ok(Presented::Fingerprint(f)) if f.to_hex() == fp));
        for placeholder in ["{http.request.tls.client.certificate_der_base64}", "{http.request.tls.client.fingerprint}"]
        {
            assert!(matches!(caddy(placeholder), Ok(Presented::None)));
        }
    }

    #[test]
    fn rfc9440_byte_sequences() {
        // RFC 9440 Appendix A: `Client-Cert: :MIIBqDCCAU6gAwIBAgIBBzAKBggqhkjOPQQDAjA6...:`
        let c = chain();
        is_cert(rfc9440(&format!(":{}:", STANDARD.encode(&c.leaf_der))), &c.leaf_der);
        refused(rfc9440(&STANDARD.encode(&c.leaf_der)), INVALID);
        assert!(rfc9440_chain(&format!(":{}:, :{}:", STANDARD.encode(&c.ca_der), STANDARD.encode(&c.ca_der))).is_ok());
        assert!(rfc9440_chain(":abc").is_err());
    }

    fn xfcc_cert(pem: &str) -> String {
        // Envoy URL-encodes the PEM (Envoy::Http::Utility::PercentEncoding), so it has no ',;="'.
        percent_encoding::utf8_percent_encode(pem, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    #[test]
    fn envoy_reads_the_last_element() {
        let c = chain();
        let hash = sha256(&c.leaf_der);
        // The documented shape: By, Hash, Subject always quoted, URI, DNS; Cert when asked for.
        let element = format!(
            "By=spiffe://cluster.local/ns/default/sa/certmap;Hash={hash};Cert=\"{}\";Subject=\"CN=alice,O=Contoso\";URI=;DNS=alice.example",
            xfcc_cert(&c.leaf_pem)
        );
        is_cert(envoy(&element), &c.leaf_der);
        assert!(matches!(envoy(&format!("hash={hash};by=x")), Ok(Presented::Fingerprint(f)) if f.to_hex() == hash));
        // Earlier hops (another proxy's client) never decide.
        let other = sha256(&c.ca_der);
        let hops = format!("By=a;Hash={other};Subject=\"CN=x\",{element}");
        is_cert(envoy(&hops), &c.leaf_der);
        let hundred = format!("{}{element}", format!("By=\"h\";Hash={other};Subject=\"CN=a,O=b\",").repeat(99));
        is_cert(envoy(&hundred), &c.leaf_der);
    }

    #[test]
    fn envoy_hostile_values() {
        let c = chain();
        let hash = sha256(&c.leaf_der);
        let other = sha256(&c.ca_der);
        // Separators and quotes inside quoted values are data, not structure.
        let tricky =
            format!("By=\"spiffe://x;Hash={other}\";Hash={hash};Subject=\"CN=\\\"Al, ice\\\";O=a=b,Hash={other}\"");
        assert!(matches!(envoy(&tricky), Ok(Presented::Fingerprint(f)) if f.to_hex() == hash), "{tricky}");
        let trailing_hop = format!("By=a;Hash={hash};Subject=\"CN=a\",By=b;Subject=\"CN=b,Hash={other}\"");
        refused(envoy(&trailing_hop), INVALID);
        refused(envoy(&format!("Hash={hash};Subject=\"CN=a")), INVALID);
        refused(envoy(&format!("Hash={hash};Hash={other}")), INVALID);
        refused(envoy(&format!("Hash={other};Cert=\"{}\"", xfcc_cert(&c.leaf_pem))), INVALID);
        refused(envoy(&format!("By=x;Hash={hash},")), INVALID);
        refused(envoy("Hash=xyz"), INVALID);
        refused(envoy(&format!("Hash={}", "a".repeat(40))), INVALID);
        refused(envoy("By"), INVALID);
    }
}
