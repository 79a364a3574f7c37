//! What a gateway serving several sites on one address needs: every site must be named by host
//! name, and no host may be named by two sites.
//!
//! IIS tells sites apart by their bindings; a certmap gateway document puts every site on the
//! one `listen` address, so the Host header (and SNI) is all that tells them apart. A site
//! without host names would catch every request for other names; two sites claiming the same
//! host would leave the choice to each gateway's own precedence rules (nginx prefers an exact
//! name, Apache the first virtual host, HAProxy the last matching rule), so such a document is
//! refused rather than resolved differently by each gateway. A wildcard `*.example.com` covers
//! every name ending in `.example.com`, at any depth, as nginx, Apache and the HAProxy rules read it.

use super::snapshot::SiteSnapshot;
use super::RenderError;
use crate::domain::names::Hostname;

pub(crate) fn check_routable(sites: &[SiteSnapshot], format: &str) -> Result<(), RenderError> {
    if let Some(site) = sites.iter().find(|s| s.hostnames.is_empty()) {
        return Err(RenderError::unsupported(format!(
            "a site without host names in a {format} document for several sites: they share one address, so only \
             the host name tells them apart (add host names to the site, or fetch its own config)"
        ))
        .in_site(site));
    }
    for (i, a) in sites.iter().enumerate() {
        for b in &sites[i + 1..] {
            for ha in &a.hostnames {
                if let Some(hb) = b.hostnames.iter().find(|hb| overlap(ha, hb)) {
                    return Err(RenderError::unsupported(format!(
                        "site {:?} (id {}) host name {} and site {:?} (id {}) host name {} can name the same host, \
                         so a {format} gateway cannot tell the sites apart (give them distinct host names)",
                        a.name.as_str(),
                        a.id,
                        ha.as_str(),
                        b.name.as_str(),
                        b.id,
                        hb.as_str()
                    )));
                }
            }
        }
    }
    Ok(())
}

/// `*.example.com` covers `a.example.com` and `a.b.example.com`, not `example.com`.
fn overlap(a: &Hostname, b: &Hostname) -> bool {
    let under = |name: &str, domain: &str| name.strip_suffix(domain).is_some_and(|rest| rest.ends_with('.'));
    match (a.as_str().strip_prefix("*."), b.as_str().strip_prefix("*.")) {
        (None, None) => a == b,
        (Some(d), None) => under(b.as_str(), d),
        (None, Some(d)) => under(a.as_str(), d),
        (Some(x), Some(y)) => x == y || under(x, y) || under(y, x),
    }
}

/// The suffix a wildcard host name stands for (`.example.com`), or None for an exact name.
pub(crate) fn wildcard_suffix(h: &Hostname) -> Option<&str> {
    h.as_str().strip_prefix('*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture;

    fn h(s: &str) -> Hostname {
        Hostname::parse(s).unwrap()
    }

    #[test]
    fn overlaps() {
        for (a, b, want) in [
            ("www.contoso.com", "www.contoso.com", true),
            ("www.contoso.com", "shop.contoso.com", false),
            ("*.contoso.com", "www.contoso.com", true),
            ("*.contoso.com", "a.b.contoso.com", true),
            ("*.contoso.com", "contoso.com", false),
            ("*.contoso.com", "xcontoso.com", false),
            ("*.contoso.com", "*.a.contoso.com", true),
            ("*.contoso.com", "*.contoso.com", true),
            ("*.contoso.com", "*.fabrikam.com", false),
            ("*.contoso.com", "*.xcontoso.com", false),
        ] {
            assert_eq!(overlap(&h(a), &h(b)), want, "{a} {b}");
            assert_eq!(overlap(&h(b), &h(a)), want, "{b} {a}");
        }
    }

    #[test]
    fn every_site_needs_its_own_names() {
        assert!(check_routable(&fixture::two_sites(), "nginx").is_ok());
        let mut sites = fixture::two_sites();
        sites[1].hostnames.clear();
        let RenderError::Unsupported { what } = check_routable(&sites, "nginx").unwrap_err() else { panic!() };
        assert!(what.starts_with("site \"Site \\\"A\\\"") && what.contains("(id 8)"), "{what}");
        assert!(what.contains("without host names"), "{what}");
        let mut sites = fixture::two_sites();
        sites[1].hostnames.push(h("a.contoso.net"));
        let RenderError::Unsupported { what } = check_routable(&sites, "apache").unwrap_err() else { panic!() };
        assert!(what.contains("*.contoso.net") && what.contains("a.contoso.net") && what.contains("id 8"), "{what}");
    }
}
