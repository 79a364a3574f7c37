//! Test data for `bench/run`: many distinct, real client certificates made fast (one key, one
//! serial each, signed by one CA), written as NDJSON ready for the bulk endpoint, with the SHA-256
//! of each certificate on its own line, the CA and a server certificate a gateway can load, and a
//! CRL of the CA revoking COUNT other serials (`crl.der`), to measure authorize with a large CRL.
//!
//! `cargo run --release --example bench_certs -- DIR COUNT`

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use aws_lc_rs::digest;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SerialNumber};
use time::{Duration, OffsetDateTime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_certs DIR COUNT";
    let dir = PathBuf::from(args.next().ok_or(usage)?);
    let count: usize = args.next().ok_or(usage)?.parse()?;
    std::fs::create_dir_all(&dir)?;

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name.push(DnType::OrganizationName, "certmap bench");
    ca.distinguished_name.push(DnType::CommonName, "certmap bench CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key)?;
    std::fs::write(dir.join("ca.pem"), ca_cert.pem())?;
    let issuer = Issuer::new(ca, ca_key);

    let now = OffsetDateTime::now_utc();
    let server_key = KeyPair::generate()?;
    let mut server = CertificateParams::new(vec!["localhost".into()])?;
    server.distinguished_name.push(DnType::CommonName, "localhost");
    server.not_before = now - Duration::days(1);
    server.not_after = now + Duration::days(3650);
    std::fs::write(dir.join("server.pem"), server.signed_by(&server_key, &issuer)?.pem())?;
    std::fs::write(dir.join("server.key"), server_key.serialize_pem())?;

    let key = KeyPair::generate()?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = count.div_ceil(threads);
    let parts: Vec<(String, String)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (key, issuer) = (&key, &issuer);
                s.spawn(move || {
                    let (mut ndjson, mut sha) = (String::new(), String::new());
                    for i in (t * per)..((t + 1) * per).min(count) {
                        let mut params = CertificateParams::default();
                        params.distinguished_name.push(DnType::OrganizationName, "certmap bench");
                        params.distinguished_name.push(DnType::CommonName, format!("user{i:07}"));
                        params.not_before = now - Duration::days(1);
                        params.not_after = now + Duration::days(3650);
                        params.serial_number = Some(SerialNumber::from((i as u64 + 1).to_be_bytes().to_vec()));
                        let cert = params.signed_by(key, issuer).expect("signing a certificate");
                        let line =
                            serde_json::json!({"certificate": cert.pem(), "user_name": format!("BENCH\\user{i:07}")});
                        let _ = writeln!(ndjson, "{line}");
                        let _ = writeln!(sha, "{}", hex::encode(digest::digest(&digest::SHA256, cert.der())));
                    }
                    (ndjson, sha)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("generator thread")).collect()
    });
    let mut ndjson = std::io::BufWriter::new(std::fs::File::create(dir.join("certs.ndjson"))?);
    let mut sha = std::io::BufWriter::new(std::fs::File::create(dir.join("certs.sha256"))?);
    for (lines, hashes) in parts {
        ndjson.write_all(lines.as_bytes())?;
        sha.write_all(hashes.as_bytes())?;
    }
    ndjson.flush()?;
    sha.flush()?;

    // Serials after the mapped ones: the CRL is as large as the site, and revokes none of it.
    let crl = rcgen::CertificateRevocationListParams {
        this_update: now - Duration::minutes(1),
        next_update: now + Duration::days(3650),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: (0..count as u64)
            .map(|i| rcgen::RevokedCertParams {
                serial_number: SerialNumber::from((count as u64 + 1 + i).to_be_bytes().to_vec()),
                revocation_time: now - Duration::days(1),
                reason_code: Some(rcgen::RevocationReason::Superseded),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    std::fs::write(dir.join("crl.der"), crl.signed_by(&issuer)?.der())?;
    Ok(())
}
