//! Why an input is not one X.509 certificate, with the stable code each refusal answers with.

use super::MAX_CERTIFICATE_BYTES;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("no certificate was given: the input is empty")]
    Empty,
    #[error("the input is {size} bytes; a certificate may be at most {MAX_CERTIFICATE_BYTES} bytes")]
    TooLarge { size: usize },
    #[error("this is not a certificate: it is neither PEM nor base64 ({reason})")]
    NotBase64 { reason: String },
    #[error("the PEM text is damaged: {reason}")]
    DamagedPem { reason: String },
    #[error("this is a PEM \"{label}\", not a certificate: send the \"BEGIN CERTIFICATE\" block")]
    UnexpectedPem { label: String },
    #[error("this is not a DER X.509 certificate: {reason}")]
    NotCertificate { reason: String },
    #[error("this is {what} — never upload a private key; send only the certificate")]
    PrivateKey { what: String },
    #[error(
        "this is a certificate signing request (CSR), not a certificate: send the certificate the CA issued for it"
    )]
    Csr,
    #[error(
        "this is a PKCS#7 / CMS bundle (.p7b), not a single certificate: export the client certificate alone as .cer (DER or base64)"
    )]
    Pkcs7,
    #[error(
        "this is a PKCS#12 / PFX file: it holds a private key — never upload it; export the certificate alone as .cer, without its private key"
    )]
    Pkcs12,
    #[error("this is a public key alone, not a certificate: send the certificate that contains it")]
    PublicKey,
    #[error("the certificate is followed by {bytes} unexpected byte(s): send exactly one certificate")]
    TrailingData { bytes: usize },
}

impl CertificateError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "certificate-empty",
            Self::TooLarge { .. } => "certificate-too-large",
            Self::NotBase64 { .. }
            | Self::DamagedPem { .. }
            | Self::UnexpectedPem { .. }
            | Self::NotCertificate { .. } => "invalid-certificate",
            Self::PrivateKey { .. } => "certificate-is-private-key",
            Self::Csr => "certificate-is-csr",
            Self::Pkcs7 => "certificate-is-pkcs7",
            Self::Pkcs12 => "certificate-is-pkcs12",
            Self::PublicKey => "certificate-is-public-key",
            Self::TrailingData { .. } => "certificate-trailing-data",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_code_and_a_message() {
        let errors = [
            CertificateError::Empty,
            CertificateError::TooLarge { size: 70_000 },
            CertificateError::NotBase64 { reason: "x".into() },
            CertificateError::DamagedPem { reason: "x".into() },
            CertificateError::UnexpectedPem { label: "X509 CRL".into() },
            CertificateError::NotCertificate { reason: "x".into() },
            CertificateError::PrivateKey { what: "a private key".into() },
            CertificateError::Csr,
            CertificateError::Pkcs7,
            CertificateError::Pkcs12,
            CertificateError::PublicKey,
            CertificateError::TrailingData { bytes: 3 },
        ];
        for e in errors {
            assert!(!e.code().is_empty());
            assert!(e.to_string().len() > 20, "{e}");
        }
    }
}
