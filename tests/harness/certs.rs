//! Real certificates for tests: a CA and the client certificates it signs.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SerialNumber};
use time::{Duration, OffsetDateTime};

pub struct TestCert {
    pub pem: String,
    pub der: Vec<u8>,
    pub key_pem: String,
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
