//! Hostile shapes at the upload limit: whatever an 8 MiB file holds, reading and analysing it is
//! linear, so lint (which any role may call) answers or refuses it in well under two seconds.

use std::time::{Duration, Instant};

use super::analyze;
use super::round_trip_tests::options;
use super::xml::MAX_INPUT_BYTES;
use crate::render::fixture;

/// `head`, then `item(i)` for as long as the file stays under the limit, then `tail`.
fn fill(head: &str, item: impl Fn(usize) -> String, tail: &str) -> String {
    let mut out = head.to_owned();
    for i in 0.. {
        let next = item(i);
        if out.len() + next.len() + tail.len() > MAX_INPUT_BYTES {
            break;
        }
        out.push_str(&next);
    }
    out.push_str(tail);
    out
}

fn mapping_section(inner: &str) -> String {
    format!(
        r#"<configuration><location path="S"><system.webServer><security><authentication><iisClientCertificateMappingAuthentication enabled="true">{inner}"#
    )
}
const MAPPING_TAIL: &str =
    "</iisClientCertificateMappingAuthentication></authentication></security></system.webServer></location></configuration>";

fn shapes() -> Vec<(&'static str, String)> {
    let cert = fixture::cert(fixture::ALICE).iis_form();
    vec![
        ("attributes on one element", fill("<configuration x", |i| format!(" a{i}=\"\""), "/>")),
        ("elements", fill("<configuration>", |_| "<a/>".into(), "</configuration>")),
        (
            "sites",
            fill(
                "<configuration><system.applicationHost><sites>",
                |i| format!("<site name=\"s{i}\"/>"),
                "</sites></system.applicationHost></configuration>",
            ),
        ),
        (
            "bindings of one site",
            fill(
                "<configuration><system.applicationHost><sites><site name=\"S\"><bindings>",
                |i| format!("<binding protocol=\"https\" bindingInformation=\"*:443:h{i}.example\"/>"),
                "</bindings></site></sites></system.applicationHost></configuration>",
            ),
        ),
        (
            "locations of one site",
            fill(
                "<configuration>",
                |i| {
                    format!("<location path=\"S/d{}\"><system.webServer><security><access sslFlags=\"Ssl\"/></security></system.webServer></location>", i % 50_000)
                },
                "</configuration>",
            ),
        ),
        (
            "one location, repeated",
            fill(
                "<configuration>",
                |_| {
                    "<location path=\"S/d\"><system.webServer><security><access sslFlags=\"Ssl\"/><authentication><anonymousAuthentication enabled=\"false\"/></authentication></security></system.webServer></location>".into()
                },
                "</configuration>",
            ),
        ),
        (
            "nested locations",
            fill(
                "<configuration>",
                |i| {
                    let path: String = (0..(i % 40)).map(|d| format!("/n{d}")).collect();
                    format!("<location path=\"S{path}/x{i}\"><system.webServer><security><access sslFlags=\"Ssl\"/></security></system.webServer></location>")
                },
                "</configuration>",
            ),
        ),
        (
            "many-to-one mappings",
            fill(
                &mapping_section("<manyToOneMappings>"),
                |i| {
                    format!("<add name=\"m{i}\" permissionMode=\"Deny\"><rules><add certificateField=\"Subject\" certificateSubField=\"CN\" matchCriteria=\"x\"/></rules></add>")
                },
                &format!("</manyToOneMappings>{MAPPING_TAIL}"),
            ),
        ),
        (
            "rules of one many-to-one mapping",
            fill(
                &mapping_section("<manyToOneMappings><add name=\"m\" permissionMode=\"Deny\"><rules>"),
                |i| format!("<add certificateField=\"Subject\" certificateSubField=\"CN\" matchCriteria=\"x{i}\"/>"),
                &format!("</rules></add></manyToOneMappings>{MAPPING_TAIL}"),
            ),
        ),
        (
            "one-to-one mappings of one certificate",
            fill(
                &mapping_section("<oneToOneMappings>"),
                |i| format!("<add userName=\"u{i}\" certificate=\"{cert}\"/>"),
                &format!("</oneToOneMappings>{MAPPING_TAIL}"),
            ),
        ),
        (
            "broken one-to-one mappings",
            fill(
                &mapping_section("<oneToOneMappings>"),
                |i| format!("<add userName=\"u{i}\" certificate=\"x\"/>"),
                &format!("</oneToOneMappings>{MAPPING_TAIL}"),
            ),
        ),
        ("one long text", fill("<configuration>", |_| "x".repeat(1000), "</configuration>")),
        ("comments", fill("<configuration>", |_| "<!-- c -->".into(), "</configuration>")),
    ]
}

#[test]
fn every_shape_at_the_limit_is_analysed_in_linear_time() {
    for (name, text) in shapes() {
        assert!(text.len() <= MAX_INPUT_BYTES, "{name}");
        let started = Instant::now();
        let analysis = analyze(text.as_bytes(), &options());
        let took = started.elapsed();
        eprintln!("{name}: {} bytes, {} findings, {took:?}", text.len(), analysis.findings.len());
        // An unoptimised test build on a shared machine is tens of times slower than a release
        // server (where every shape takes well under 2 s); quadratic shapes took minutes to hours
        // (200,000 attributes: 32 s of release CPU; 150,000 bindings: 4 minutes here).
        assert!(took < Duration::from_secs(30), "{name} took {took:?}");
    }
}
