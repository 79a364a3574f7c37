//! Real certificates for tests: a CA and the client certificates it signs.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SerialNumber};
use time::{Duration, OffsetDateTime};

pub struct TestCert {
    pub pem: String,
    pub der: Vec<u8>,
    pub key_pem: String,
}

impl TestCert {
    /// Its SHA-256 as certmap writes it (lowercase hex): what a fingerprint gateway sends.
    pub fn sha256(&self) -> String {
        certmap::domain::certificate::Certificate::from_der(&self.der).unwrap().info().sha256.clone()
    }
}

pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub cert: TestCert,
    serial: std::sync::atomic::AtomicU64,
}

impl TestCa {
    pub fn new(cn: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::OrganizationName, "Contoso");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let cert = TestCert { pem: cert.pem(), der: cert.der().to_vec(), key_pem: key.serialize_pem() };
        Self { issuer: Issuer::new(params, key), cert, serial: 1.into() }
    }

    /// A client certificate valid from a day ago for a year.
    pub fn client(&self, cn: &str) -> TestCert {
        let now = OffsetDateTime::now_utc();
        self.client_with(cn, &[], now - Duration::days(1), now + Duration::days(365))
    }

    /// A client certificate with extra subject attributes (e.g. `(DnType::OrganizationalUnitName, "Ops")`)
    /// and an explicit validity period.
    pub fn client_with(
        &self,
        cn: &str,
        extra: &[(DnType, &str)],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> TestCert {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::OrganizationName, "Contoso");
        for (ty, value) in extra {
            params.distinguished_name.push(ty.clone(), *value);
        }
        params.distinguished_name.push(DnType::CommonName, cn);
        params.not_before = not_before;
        params.not_after = not_after;
        let serial = self.serial.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        params.serial_number = Some(SerialNumber::from(serial.to_be_bytes().to_vec()));
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        TestCert { pem: cert.pem(), der: cert.der().to_vec(), key_pem: key.serialize_pem() }
    }

    /// A client certificate naming `url` as its CRL distribution point.
    pub fn client_with_crl_url(&self, cn: &str, url: &str) -> TestCert {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::OrganizationName, "Contoso");
        params.distinguished_name.push(DnType::CommonName, cn);
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(365);
        params.crl_distribution_points = vec![rcgen::CrlDistributionPoint { uris: vec![url.to_owned()] }];
        let serial = self.serial.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        params.serial_number = Some(SerialNumber::from(serial.to_be_bytes().to_vec()));
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        TestCert { pem: cert.pem(), der: cert.der().to_vec(), key_pem: key.serialize_pem() }
    }

    /// Many distinct certificates fast: one key, a serial each (as a bulk benchmark would make them).
    pub fn many(&self, n: usize, prefix: &str) -> Vec<TestCert> {
        let key = KeyPair::generate().unwrap();
        let now = OffsetDateTime::now_utc();
        (0..n)
            .map(|i| {
                let mut params = CertificateParams::default();
                params.distinguished_name.push(DnType::CommonName, format!("{prefix}{i}"));
                params.not_before = now - Duration::days(1);
                params.not_after = now + Duration::days(365);
                let serial = self.serial.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                params.serial_number = Some(SerialNumber::from(serial.to_be_bytes().to_vec()));
                let cert = params.signed_by(&key, &self.issuer).unwrap();
                TestCert { pem: cert.pem(), der: cert.der().to_vec(), key_pem: String::new() }
            })
            .collect()
    }

    /// A TLS server certificate for 127.0.0.1 and localhost, for gateways under test.
    pub fn server(&self) -> TestCert {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.subject_alt_names.push(rcgen::SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
        params.distinguished_name.push(DnType::CommonName, "localhost");
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(30);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        TestCert { pem: cert.pem(), der: cert.der().to_vec(), key_pem: key.serialize_pem() }
    }

    /// A CRL (DER) signed by this CA revoking `revoked` (key compromise, an hour ago), valid from
    /// `this_update` for a week.
    pub fn crl(&self, number: u64, this_update: OffsetDateTime, revoked: &[&TestCert]) -> Vec<u8> {
        let params = rcgen::CertificateRevocationListParams {
            this_update,
            next_update: this_update + Duration::days(7),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|cert| {
                    let (_, parsed) = x509_parser::parse_x509_certificate(&cert.der).unwrap();
                    rcgen::RevokedCertParams {
                        serial_number: SerialNumber::from(parsed.raw_serial().to_vec()),
                        revocation_time: this_update - Duration::hours(1),
                        reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                        invalidity_date: None,
                    }
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer).unwrap().der().to_vec()
    }

    /// `crl` as one PEM block.
    pub fn crl_pem(&self, number: u64, this_update: OffsetDateTime, revoked: &[&TestCert]) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.crl(number, this_update, revoked));
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n", lines.join("\n"))
    }

    pub fn expired(&self, cn: &str) -> TestCert {
        let now = OffsetDateTime::now_utc();
        self.client_with(cn, &[], now - Duration::days(400), now - Duration::days(35))
    }
}

impl TestCert {
    /// The body of the PEM (base64 DER) on one line: what IIS wants.
    pub fn iis_form(&self) -> String {
        self.pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }
}

/// Runs `openssl` in `dir`, failing the test with its error output (or with what to install).
pub fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is not installed: apt-get install openssl (.ci/run does)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}
