//! Renderers: pure functions from a [`SiteSnapshot`] to the text a server accepts (IIS
//! applicationHost.config, PowerShell, nginx, HAProxy, Apache, Caddy). No HTTP, SQL or async here.
//!
//! Every renderer either expresses the site's mappings faithfully or returns
//! [`RenderError::Unsupported`] naming what it cannot express: a gateway that silently drops a
//! Deny rule or a secured directory fails open.

pub mod apache;
pub mod authorize;
pub mod caddy;
pub mod haproxy;
pub mod iis;
pub mod nginx;
pub mod options;
pub mod powershell;
pub mod snapshot;

mod dn;
mod hosts;
mod path;

#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
mod realcheck;

pub use authorize::{AuthorizeOptions, Mode};
pub use options::{GatewayOptions, HaproxyOptions, IisOptions, PowerShellOptions};
pub use snapshot::{ManyToOne, OneToOne, SiteSnapshot, StoredCertificate};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("this format cannot express {what}")]
    Unsupported { what: String },
    #[error("invalid option {option}: {message}")]
    InvalidOption { option: &'static str, message: String },
}

impl RenderError {
    pub(crate) fn unsupported(what: impl Into<String>) -> Self {
        Self::Unsupported { what: what.into() }
    }

    pub(crate) fn invalid(option: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidOption { option, message: message.into() }
    }

    /// In a document covering several sites, an error must say which site it is about.
    pub(crate) fn in_site(self, site: &SiteSnapshot) -> Self {
        match self {
            Self::Unsupported { what } => {
                Self::Unsupported { what: format!("site {:?} (id {}): {what}", site.name.as_str(), site.id) }
            }
            other => other,
        }
    }
}

/// What `GET .../config/{format}` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Iis,
    PowerShell,
    Nginx,
    Haproxy,
    HaproxyMap,
    Apache,
    Caddy,
}

impl Format {
    pub const ALL: [Self; 7] =
        [Self::Iis, Self::PowerShell, Self::Nginx, Self::Haproxy, Self::HaproxyMap, Self::Apache, Self::Caddy];

    /// The `{format}` path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Iis => "iis",
            Self::PowerShell => "powershell",
            Self::Nginx => "nginx",
            Self::Haproxy => "haproxy",
            Self::HaproxyMap => "haproxy-map",
            Self::Apache => "apache",
            Self::Caddy => "caddy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// IIS and PowerShell carry each certificate itself; Apache must know a serial's sign, which
    /// only the DER keeps. The other formats name a certificate by its stored facts.
    pub fn needs_der(self) -> bool {
        matches!(self, Self::Iis | Self::PowerShell | Self::Apache)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Iis => "application/xml; charset=utf-8",
            _ => "text/plain; charset=utf-8",
        }
    }

    /// A file name for `Content-Disposition`. Built from the site id, never the site name, so no
    /// user text needs quoting in a header.
    pub fn file_name(self, site_id: i64) -> String {
        format!("certmap-site-{site_id}.{}", self.extension())
    }

    /// The file name of the document covering every site the caller may read.
    pub fn all_sites_file_name(self) -> String {
        format!("certmap-all-sites.{}", self.extension())
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Iis => "applicationHost.xml",
            Self::PowerShell => "ps1",
            Self::Nginx => "nginx.conf",
            Self::Haproxy => "haproxy.cfg",
            Self::HaproxyMap => "map",
            Self::Apache => "apache.conf",
            Self::Caddy => "Caddyfile",
        }
    }
}

/// Control characters cannot be written into any of these formats without changing the meaning
/// of the line they sit on. The domain types refuse them already; renderers check again because a
/// renderer is the last line before a config file.
pub(crate) fn refuse_control(what: &str, value: &str) -> Result<(), RenderError> {
    if value.chars().any(char::is_control) {
        return Err(RenderError::unsupported(format!("{what} containing a control character")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip_and_name_files_by_id() {
        for f in Format::ALL {
            assert_eq!(Format::parse(f.as_str()), Some(f));
            let name = f.file_name(42);
            assert!(name.starts_with("certmap-site-42."), "{name}");
            assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)), "{name}");
        }
        assert_eq!(Format::Nginx.all_sites_file_name(), "certmap-all-sites.nginx.conf");
        assert_eq!(Format::parse("IIS"), None);
        assert_eq!(Format::Iis.content_type(), "application/xml; charset=utf-8");
        assert_eq!(Format::HaproxyMap.content_type(), "text/plain; charset=utf-8");
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(refuse_control("x", "fine ünïcode $;{}").is_ok());
        for bad in ["a\nb", "a\rb", "\u{0}", "\u{85}"] {
            assert!(matches!(refuse_control("a user name", bad), Err(RenderError::Unsupported { .. })), "{bad:?}");
        }
    }
}
