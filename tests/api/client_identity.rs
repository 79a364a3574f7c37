//! Authorize reads the one client-identity form a credential declares, as each proxy writes it,
//! and refuses every other form's header. Samples are built the way the proxies build them; the
//! parsers in `api/src/gateway/client_identity.rs` cite the documentation and source.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use certmap::auth::Role;
use certmap::domain::client_identity::ClientIdentity;
use certmap_tests::certs::{TestCa, TestCert};
use certmap_tests::TestApp;
use serde_json::{json, Value};

use crate::authorize::ask;

/// A site whose /secure takes only mapped certificates, and alice mapped there.
async fn site_with_alice(app: &TestApp, alice: &TestCert) -> Value {
    let site = app.site(json!({"name": "Default Web Site", "certificate_mapping": {"enabled": true}})).await;
    let site = site["id"].as_i64().unwrap();
    app.secured_directory(site, "/secure").await;
    app.mapping(site, json!({"certificate": alice.pem, "user_name": "CONTOSO\\alice"})).await
}

fn bearer(token: String) -> String {
    format!("Bearer {token}")
}

/// Every byte but unreserved ones escaped: nginx's `$ssl_client_escaped_cert`, Envoy's `Cert`.
fn url_escaped(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The client certificate as each form's gateway sends it.
fn sent(form: ClientIdentity, cert: &TestCert) -> Vec<(&'static str, String)> {
    let b64 = STANDARD.encode(&cert.der);
    let value = match form {
        ClientIdentity::Nginx => url_escaped(&cert.pem),
        ClientIdentity::Apache => cert.pem.replace('\n', " "),
        ClientIdentity::Envoy => format!(
            "By=spiffe://cluster.local/ns/default/sa/certmap;Hash={};Cert=\"{}\";Subject=\"CN=x,O=Contoso\";URI=;DNS=x.example",
            cert.sha256(),
            url_escaped(&cert.pem)
        ),
        ClientIdentity::Traefik => b64,
        ClientIdentity::Caddy => b64,
        ClientIdentity::Haproxy => b64,
        ClientIdentity::Rfc9440 => format!(":{b64}:"),
        ClientIdentity::Fingerprint => cert.sha256(),
    };
    vec![(form.headers()[0], value)]
}

/// What each form's gateway sends when the client presented no certificate.
fn sent_for_none(form: ClientIdentity) -> Vec<(&'static str, String)> {
    match form {
        ClientIdentity::Apache => vec![("x-ssl-client-cert", "(null)".into())],
        ClientIdentity::Caddy => {
            vec![("x-caddy-client-cert", "{http.request.tls.client.certificate_der_base64}".into())]
        }
        ClientIdentity::Haproxy => vec![("x-ssl-client-der", String::new())],
        _ => vec![],
    }
}

/// The review's hole: nginx drops an empty `$ssl_client_escaped_cert` header and passes the
/// client's own headers on, so a client without a certificate sent alice's fingerprint and was
/// let in as alice. Fingerprints are public (snapshots, maps, rendered config).
#[actix_web::test]
async fn a_client_sent_fingerprint_does_not_pass_a_gateway_that_sends_certificates() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let (alice, bob) = (ca.client("alice"), ca.client("bob"));
    let mapping = site_with_alice(&app, &alice).await;
    let forged = vec![("x-ssl-client-sha256", mapping["sha256"].as_str().unwrap().to_owned())];
    let credentials = [
        ("a gateway token issued before forms existed", bearer(app.token(Role::Gateway, &[]))),
        ("a gateway token declaring nginx", bearer(app.token_declaring(Role::Gateway, ClientIdentity::Nginx))),
        ("an admin token trying authorize by hand", bearer(app.admin_token.clone())),
    ];
    for (who, token) in &credentials {
        let p = ask(&app, token, "/secure/page", forged.clone()).await.problem(400, "unexpected-client-identity");
        assert_eq!(p["errors"][0]["field"], "x-ssl-client-sha256", "{who}: {p:#}");
        // Next to a real certificate (bob's) it is refused too, never preferred.
        let mut both = sent(ClientIdentity::Nginx, &bob);
        both.extend(forged.clone());
        ask(&app, token, "/secure/page", both).await.problem(400, "unexpected-client-identity");
        let sha1 = vec![("x-ssl-client-sha1", mapping["sha1"].as_str().unwrap().to_owned())];
        ask(&app, token, "/secure/page", sha1).await.problem(400, "unexpected-client-identity");
    }
    // Only a credential that asks for fingerprints gets them read.
    let fingerprint = bearer(app.token_declaring(Role::Gateway, ClientIdentity::Fingerprint));
    let ok = ask(&app, &fingerprint, "/secure/page", forged).await;
    assert_eq!((ok.status, ok.header("x-certmap-user")), (200, Some("CONTOSO\\alice")), "{}", ok.text());
}

#[actix_web::test]
async fn every_form_reads_what_its_proxy_sends_and_nothing_else() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let (alice, bob) = (ca.client("alice"), ca.client("bob"));
    let mapping = site_with_alice(&app, &alice).await;
    for form in ClientIdentity::ALL {
        let token = bearer(app.token_declaring(Role::Gateway, form));
        let ok = ask(&app, &token, "/secure/page", sent(form, &alice)).await;
        assert_eq!(ok.status, 200, "{form}: {}", ok.text());
        assert_eq!(ok.header("x-certmap-user"), Some("CONTOSO\\alice"), "{form}");
        assert_eq!(ok.header("x-certmap-mapping-id"), Some(mapping["id"].to_string().as_str()), "{form}");
        ask(&app, &token, "/secure/page", sent(form, &bob)).await.problem(403, "client-certificate-refused");
        ask(&app, &token, "/secure/page", sent_for_none(form)).await.problem(401, "client-certificate-required");
        let open = ask(&app, &token, "/elsewhere", sent_for_none(form)).await;
        assert_eq!((open.status, open.header("x-certmap-user")), (200, Some("")), "{form}");
        // Every other form's header, even carrying alice, is refused by name.
        for other in ClientIdentity::ALL.into_iter().filter(|o| o.headers()[0] != form.headers()[0]) {
            let mut headers = sent(form, &alice);
            headers.extend(sent(other, &alice));
            let p = ask(&app, &token, "/secure/page", headers).await.problem(400, "unexpected-client-identity");
            assert_eq!(p["errors"][0]["field"], other.headers()[0], "{form} next to {other}: {p:#}");
        }
    }
    // An empty copy of another form's header names nobody: gateways "clear" headers that way.
    let nginx = bearer(app.token_declaring(Role::Gateway, ClientIdentity::Nginx));
    let mut cleared = sent(ClientIdentity::Nginx, &alice);
    cleared.push(("x-ssl-client-sha256", String::new()));
    assert_eq!(ask(&app, &nginx, "/secure/page", cleared).await.status, 200);
}

#[actix_web::test]
async fn hostile_identity_headers_end_in_problems() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let alice = ca.client("alice");
    let bob = ca.client("bob");
    site_with_alice(&app, &alice).await;
    let token = |form| bearer(app.token_declaring(Role::Gateway, form));
    let envoy = token(ClientIdentity::Envoy);

    // A hundred hops: only the last, added by the proxy in front of certmap, decides.
    let bob_hop = format!("By=\"h,1\";Hash={};Subject=\"CN=bob,O=a=b\"", bob.sha256());
    let alice_hop = sent(ClientIdentity::Envoy, &alice).remove(0).1;
    let hops = format!("{}{alice_hop}", format!("{bob_hop},").repeat(99));
    let ok = ask(&app, &envoy, "/secure", vec![("x-forwarded-client-cert", hops)]).await;
    assert_eq!(ok.header("x-certmap-user"), Some("CONTOSO\\alice"), "{}", ok.text());
    let reversed = format!("{alice_hop},{bob_hop}");
    ask(&app, &envoy, "/secure", vec![("x-forwarded-client-cert", reversed)])
        .await
        .problem(403, "client-certificate-refused");
    // Quotes, commas and '=' inside values are data.
    let tricky = format!("By=\"x\\\",Hash={}\";Hash={};Subject=\"CN=\\\"a;b\\\",O=c=d\"", alice.sha256(), bob.sha256());
    ask(&app, &envoy, "/secure", vec![("x-forwarded-client-cert", tricky)])
        .await
        .problem(403, "client-certificate-refused");
    let open_quote = format!("Hash={};Subject=\"CN=a", alice.sha256());
    ask(&app, &envoy, "/secure", vec![("x-forwarded-client-cert", open_quote)])
        .await
        .problem(422, "invalid-client-identity");

    // Traefik: the CA's certificate first, then alice's, is not alice.
    let traefik = token(ClientIdentity::Traefik);
    let ca_first = format!("{},{}", STANDARD.encode(&ca.cert.der), STANDARD.encode(&alice.der));
    ask(&app, &traefik, "/secure", vec![("x-forwarded-tls-client-cert", ca_first)])
        .await
        .problem(422, "invalid-client-identity");
    let escaped =
        format!("{},{}", url_escaped(&STANDARD.encode(&alice.der)), url_escaped(&STANDARD.encode(&ca.cert.der)));
    let ok = ask(&app, &traefik, "/secure", vec![("x-forwarded-tls-client-cert", escaped)]).await;
    assert_eq!(ok.header("x-certmap-user"), Some("CONTOSO\\alice"), "{}", ok.text());

    // The declared header twice: which one would the gateway have meant?
    let haproxy = token(ClientIdentity::Haproxy);
    let twice = app
        .client
        .get(app.url("/api/v1/authorize"))
        .insert_header(("authorization", haproxy.as_str()))
        .insert_header(("x-certmap-site", "Default Web Site"))
        .insert_header(("x-original-uri", "/secure"))
        .append_header(("x-ssl-client-der", STANDARD.encode(&bob.der)))
        .append_header(("x-ssl-client-der", STANDARD.encode(&alice.der)))
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status().as_u16(), 400);

    // Too large for a certificate, but within what the server reads: a problem naming the header.
    let big = "A".repeat(100 * 1024);
    let p = ask(&app, &haproxy, "/secure", vec![("x-ssl-client-der", big)]).await.problem(431, "header-too-large");
    assert_eq!(p["errors"][0]["field"], "x-ssl-client-der");
    // A megabyte never reaches a handler: the server refuses the head, and keeps serving.
    // The server answers 431 and closes while the client may still be sending the head, so a reset
    // seen by the client is the same refusal.
    // A client of its own, so the connection the server drops is none the later requests reuse.
    let huge = awc::Client::default()
        .get(app.url("/api/v1/authorize"))
        .insert_header(("authorization", haproxy.as_str()))
        .insert_header(("x-certmap-site", "Default Web Site"))
        .insert_header(("x-ssl-client-der", "A".repeat(1024 * 1024)))
        .send()
        .await;
    if let Ok(answer) = huge {
        assert_eq!(answer.status().as_u16(), 431);
    }
    assert_eq!(ask(&app, &haproxy, "/elsewhere", vec![]).await.status, 200);
    // Not text at all.
    let binary = app
        .client
        .get(app.url("/api/v1/authorize"))
        .insert_header(("authorization", haproxy.as_str()))
        .insert_header(("x-certmap-site", "Default Web Site"))
        .insert_header(("x-ssl-client-der", awc::http::header::HeaderValue::from_bytes(b"\xff\xfe").unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(binary.status().as_u16(), 422);
    // RFC 9440: a chain without the client's certificate is not "no certificate".
    let rfc = token(ClientIdentity::Rfc9440);
    let chain_only = vec![("client-cert-chain", format!(":{}:", STANDARD.encode(&ca.cert.der)))];
    ask(&app, &rfc, "/secure", chain_only).await.problem(422, "invalid-client-identity");
    let with_chain = vec![
        ("client-cert", format!(":{}:", STANDARD.encode(&alice.der))),
        ("client-cert-chain", format!(":{}:", STANDARD.encode(&ca.cert.der))),
    ];
    assert_eq!(ask(&app, &rfc, "/secure", with_chain).await.header("x-certmap-user"), Some("CONTOSO\\alice"));
}

/// The CHECK on `api_clients.client_identity` and the domain's list of forms agree.
#[actix_web::test]
async fn every_form_can_be_registered_for_an_api_client() {
    let app = TestApp::spawn().await;
    for (i, form) in ClientIdentity::ALL.into_iter().enumerate() {
        let sha = format!("{i:064x}");
        app.sql(|c| certmap_db::queries::api_clients::insert(c, "gw", &sha, "gateway", None, Some(form.as_str())))
            .unwrap();
    }
    let bogus =
        app.sql(|c| certmap_db::queries::api_clients::insert(c, "gw", &"f".repeat(64), "gateway", None, Some("bogus")));
    assert!(bogus.is_err(), "the database refuses a form certmap does not know");
}

/// Envoy's ext_authz HTTP service calls `path_prefix` + the client's path and query, with the
/// client's method (envoy/source/extensions/filters/common/ext_authz/ext_authz_http_impl.cc; the
/// `method_override` proposal, envoyproxy/envoy#44564, exists because the method is forwarded).
#[actix_web::test]
async fn envoy_ext_authz_is_decided_by_the_path_it_calls_with_any_method() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let alice = ca.client("alice");
    site_with_alice(&app, &alice).await;
    let envoy = bearer(app.token_declaring(Role::Gateway, ClientIdentity::Envoy));
    let call = |method: &str, path: &str, xfcc: Option<String>| {
        let mut req = app
            .client
            .request(
                awc::http::Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(&format!("/api/v1/authorize{path}")),
            )
            .insert_header(("authorization", envoy.as_str()))
            .insert_header(("x-certmap-site", "Default Web Site"))
            // Ignored on this route: the path is the request's own.
            .insert_header(("x-original-uri", "/public"));
        if let Some(xfcc) = xfcc {
            req = req.insert_header(("x-forwarded-client-cert", xfcc));
        }
        req.send()
    };
    let xfcc = sent(ClientIdentity::Envoy, &alice).remove(0).1;
    for method in ["GET", "POST", "DELETE", "PATCH", "PUT", "OPTIONS", "HEAD"] {
        let ok = call(method, "/secure/report?x=1", Some(xfcc.clone())).await.unwrap();
        assert_eq!(ok.status().as_u16(), 200, "{method}");
        assert_eq!(ok.headers().get("x-certmap-user").unwrap(), "CONTOSO\\alice", "{method}");
        let none = call(method, "/Secure/report", None).await.unwrap();
        assert_eq!(none.status().as_u16(), 401, "{method}: /Secure is /secure to IIS");
    }
    let public = call("POST", "/elsewhere", None).await.unwrap();
    assert_eq!(public.status().as_u16(), 200);
    assert_eq!(public.headers().get("x-certmap-user").unwrap(), "");
    assert_eq!(call("GET", "/", None).await.unwrap().status().as_u16(), 200, "the site root");
}
