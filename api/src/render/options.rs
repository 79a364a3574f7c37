//! What a user may choose about a rendered file. Every value lands unquoted or barely quoted in a
//! config language, so each is checked against a deliberately narrow shape: an option that could
//! change the meaning of the surrounding line is an [`RenderError::InvalidOption`], never escaped.

use std::net::{IpAddr, SocketAddr};

use super::RenderError;
use crate::domain::names::Hostname;

/// The IIS renderer has nothing to choose: passwords are in the snapshot only when an admin asked
/// for secrets. Kept so every renderer has the same shape and options can be added later.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IisOptions {}

/// See [`IisOptions`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PowerShellOptions {}

/// What every gateway (nginx, HAProxy, Apache) needs besides the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayOptions {
    /// `ip:port` the gateway listens on with TLS.
    pub listen: String,
    /// `http://host:port` or `https://host:port` of the application behind the gateway.
    pub upstream: String,
    /// The request header that carries the mapped account to the upstream.
    pub header: String,
    /// The gateway's own certificate (PEM). HAProxy wants the key in the same file.
    pub server_cert: String,
    pub server_key: String,
    /// The client CA bundle the gateway trusts (certmap serves it at `.../config/ca-bundle`).
    pub ca_bundle: String,
    /// How many intermediate CAs may sit between a client certificate and the bundle.
    pub verify_depth: u8,
    /// The PEM CRLs of the trusted CAs (certmap serves them at `.../config/crl`): with it the
    /// gateway refuses a revoked client certificate itself.
    pub crl_file: Option<String>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:443".into(),
            upstream: "http://127.0.0.1:8080".into(),
            header: "X-Remote-User".into(),
            server_cert: "/etc/certmap/server.pem".into(),
            server_key: "/etc/certmap/server.key".into(),
            ca_bundle: "/etc/certmap/client-ca.pem".into(),
            verify_depth: 2,
            crl_file: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaproxyOptions {
    pub gateway: GatewayOptions,
    /// Where the gateway keeps the map file certmap renders (`.../config/haproxy-map`).
    pub map_file: String,
    /// Also emit minimal `global` and `defaults` sections so the file passes `haproxy -c` alone.
    pub standalone: bool,
}

impl Default for HaproxyOptions {
    fn default() -> Self {
        Self { gateway: GatewayOptions::default(), map_file: "/etc/haproxy/certmap.map".into(), standalone: false }
    }
}

/// Gateway options after validation, in the pieces renderers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gateway<'a> {
    pub listen: SocketAddr,
    pub upstream: Upstream,
    pub header: &'a str,
    pub server_cert: &'a str,
    pub server_key: &'a str,
    pub ca_bundle: &'a str,
    pub verify_depth: u8,
    pub crl_file: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upstream {
    pub https: bool,
    /// `host:port`, IPv6 in brackets.
    pub authority: String,
}

impl Upstream {
    pub fn url(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.authority)
    }

    /// The host without the port (IPv6 still in brackets).
    pub fn host(&self) -> &str {
        self.authority.rsplit_once(':').map_or(self.authority.as_str(), |(host, _)| host)
    }
}

impl GatewayOptions {
    pub(crate) fn validate(&self) -> Result<Gateway<'_>, RenderError> {
        if self.verify_depth == 0 || self.verify_depth > 10 {
            return Err(RenderError::invalid("verify_depth", "must be between 1 and 10"));
        }
        Ok(Gateway {
            listen: parse_listen(&self.listen)?,
            upstream: parse_upstream(&self.upstream)?,
            header: check_header(&self.header)?,
            server_cert: check_path("server_cert", &self.server_cert)?,
            server_key: check_path("server_key", &self.server_key)?,
            ca_bundle: check_path("ca_bundle", &self.ca_bundle)?,
            verify_depth: self.verify_depth,
            crl_file: self.crl_file.as_deref().map(|f| check_path("crl_file", f)).transpose()?,
        })
    }
}

pub(crate) fn parse_listen(raw: &str) -> Result<SocketAddr, RenderError> {
    raw.parse::<SocketAddr>()
        .map_err(|_| RenderError::invalid("listen", format!("{raw:?} is not ip:port (e.g. 0.0.0.0:443 or [::]:443)")))
}

/// Only scheme, host and port: a path in nginx's `proxy_pass` would rewrite every request URI,
/// and anything else (user info, query) has no meaning for a reverse proxy.
pub(crate) fn parse_upstream(raw: &str) -> Result<Upstream, RenderError> {
    parse_url("upstream", raw)
}

/// An `http(s)://host:port` a gateway connects to (the upstream, or certmap itself).
pub(crate) fn parse_url(option: &'static str, raw: &str) -> Result<Upstream, RenderError> {
    let fail = || {
        RenderError::invalid(
            option,
            format!("{raw:?} is not http://host:port or https://host:port (no path, no user, no spaces or quotes)"),
        )
    };
    let (https, rest) = if let Some(r) = raw.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = raw.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(fail());
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (addr, port) = v6.split_once("]:").ok_or_else(fail)?;
        addr.parse::<std::net::Ipv6Addr>().map_err(|_| fail())?;
        (format!("[{addr}]"), port)
    } else {
        let (host, port) = rest.rsplit_once(':').ok_or_else(fail)?;
        let ok = host.parse::<IpAddr>().is_ok() || (!host.starts_with('*') && Hostname::parse(host).is_ok());
        if !ok {
            return Err(fail());
        }
        (host.to_ascii_lowercase(), port)
    };
    // Compared back to the text so "080" and "+80", which `u16::from_str` accepts, are refused.
    let number: u16 = port.parse().map_err(|_| fail())?;
    if number == 0 || number.to_string() != port {
        return Err(fail());
    }
    Ok(Upstream { https, authority: format!("{host}:{number}") })
}

/// Narrower than RFC 9110's token on purpose: letters, digits and `-` are safe unquoted in all
/// three gateway languages (`$`, `%`, `'` and friends are tokens but mean something to nginx,
/// HAProxy or Apache), and `_` is left out because CGI-style upstreams fold `-` and `_` together,
/// which would let a client-sent look-alike header slip past the gateway's delete.
pub(crate) fn check_header(raw: &str) -> Result<&str, RenderError> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !raw.starts_with('-')
        && !raw.ends_with('-');
    if !ok {
        return Err(RenderError::invalid(
            "header",
            format!("{raw:?} is not a header name: use letters, digits and '-' (e.g. X-Remote-User)"),
        ));
    }
    Ok(raw)
}

/// Absolute, and only characters that need no quoting in any gateway language: a path is written
/// as is, so one that needs escaping is refused rather than escaped.
pub(crate) fn check_path<'a>(option: &'static str, raw: &'a str) -> Result<&'a str, RenderError> {
    let ok = raw.starts_with('/')
        && raw.len() <= 1024
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+@".contains(&b))
        && !raw.split('/').any(|seg| seg == "..");
    if !ok {
        return Err(RenderError::invalid(
            option,
            format!("{raw:?} must be an absolute path of letters, digits and / . _ - + @ (no spaces, quotes or ..)"),
        ));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option_of(r: Result<impl std::fmt::Debug, RenderError>) -> &'static str {
        match r {
            Err(RenderError::InvalidOption { option, .. }) => option,
            other => panic!("expected InvalidOption, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid() {
        let g = GatewayOptions::default();
        let v = g.validate().unwrap();
        assert_eq!(v.upstream.url(), "http://127.0.0.1:8080");
        assert_eq!(v.listen.to_string(), "0.0.0.0:443");
    }

    #[test]
    fn upstreams() {
        for (raw, want) in [
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
            ("https://App.Example.com:8443/", "https://app.example.com:8443"),
            ("http://[::1]:80", "http://[::1]:80"),
        ] {
            assert_eq!(parse_upstream(raw).unwrap().url(), want, "{raw}");
        }
        for bad in [
            "127.0.0.1:9000",
            "ftp://a:1",
            "http://a",
            "http://a:0",
            "http://a:080",
            "http://a:+80",
            "http://a:65536",
            "http://a:80/path",
            "http://u@a:80",
            "http://a b:80",
            "http://\"a\":80",
            "http://a;b:80",
            "http://$host:80",
            "http://*.a:80",
            "http://[::1]80",
            "http://[zz]:80",
            "http://a:80?x",
            "http://a:80\n",
        ] {
            assert_eq!(option_of(parse_upstream(bad)), "upstream", "{bad:?}");
        }
    }

    #[test]
    fn header_names() {
        assert!(check_header("X-Remote-User").is_ok());
        for bad in ["", "X_Remote_User", "X Remote", "X-$user", "X-\"", "X;", "-X", "X-", "%{x}", "é", &"a".repeat(65)]
        {
            assert_eq!(option_of(check_header(bad)), "header", "{bad:?}");
        }
    }

    #[test]
    fn listen_addresses() {
        assert!(parse_listen("127.0.0.1:8443").is_ok());
        assert!(parse_listen("[::]:443").is_ok());
        for bad in ["443", ":443", "localhost:443", "1.2.3.4", "1.2.3.4:443 ssl", "1.2.3.4:443;"] {
            assert_eq!(option_of(parse_listen(bad)), "listen", "{bad:?}");
        }
    }

    #[test]
    fn paths() {
        assert!(check_path("ca_bundle", "/etc/certmap/site-1_ca.pem").is_ok());
        for bad in ["relative.pem", "/a b", "/a\"b", "/a'b", "/a;b", "/a$b", "/a{b}", "/a\nb", "/etc/../x", "/é", ""] {
            assert_eq!(option_of(check_path("ca_bundle", bad)), "ca_bundle", "{bad:?}");
        }
    }

    #[test]
    fn validate_names_the_failing_option() {
        let bad = |f: fn(&mut GatewayOptions)| {
            let mut g = GatewayOptions::default();
            f(&mut g);
            option_of(g.validate())
        };
        assert_eq!(bad(|g| g.verify_depth = 0), "verify_depth");
        assert_eq!(bad(|g| g.server_key = "key.pem".into()), "server_key");
        assert_eq!(bad(|g| g.server_cert = "/a b".into()), "server_cert");
        assert_eq!(bad(|g| g.header = "X Y".into()), "header");
        assert_eq!(bad(|g| g.listen = "x".into()), "listen");
    }
}
