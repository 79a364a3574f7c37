//! What a new user looks for beside the code, kept true: the README's test command and package
//! line match `.ci/run`, its contents link to real headings, and the licence, changelog and
//! compose file say what the manifest and the README promise.

use std::collections::BTreeSet;

const README: &str = include_str!("../../README.md");
const CI: &str = include_str!("../../.ci/run");
const CARGO: &str = include_str!("../../Cargo.toml");

/// The packages of the README's "Running the tests" apt-get line.
fn readme_packages() -> BTreeSet<&'static str> {
    let section = &README[README.find("## Running the tests").expect("a Running the tests section")..];
    let line = section.lines().find(|l| l.starts_with("apt-get install ")).expect("an apt-get line");
    line["apt-get install ".len()..].split_whitespace().collect()
}

/// Every package `.ci/run` may install: the `program:package` pairs of its loop, and each
/// `missing+=(package)`.
fn ci_packages() -> BTreeSet<&'static str> {
    let pairs = CI.split("for pair in ").nth(1).and_then(|rest| rest.split("; do").next()).expect("the pairs loop");
    let mut packages: BTreeSet<&str> =
        pairs.split_whitespace().filter_map(|pair| pair.split_once(':').map(|(_, package)| package)).collect();
    for rest in CI.split("missing+=(").skip(1) {
        let package = rest.split(')').next().unwrap();
        if !package.starts_with('"') {
            packages.insert(package);
        }
    }
    packages
}

#[test]
fn the_readme_and_ci_install_the_same_packages_and_run_the_same_command() {
    let (readme, ci) = (readme_packages(), ci_packages());
    assert!(ci.contains("nginx") && ci.contains("libpq-dev") && ci.contains("chromium"), "parsed .ci/run: {ci:?}");
    assert_eq!(readme, ci, "README's apt-get line vs .ci/run: change one, change both");
    let section = &README[README.find("## Running the tests").unwrap()..];
    assert!(section.contains("\ncargo test --workspace\n"), "the README's test command");
    assert!(CI.contains("\ncargo test --workspace\n"), ".ci/run runs the README's test command unchanged");
}

/// GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn the_contents_link_to_real_headings_and_reference_comes_after_the_tour() {
    let mut in_code = false;
    let mut anchors = BTreeSet::new();
    for line in README.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            anchors.insert(anchor(line.trim_start_matches('#')));
        }
    }
    let contents = &README[README.find("## Contents").unwrap()..README.find("## Quick start").unwrap()];
    let links: Vec<&str> = contents.split("](#").skip(1).map(|l| l.split(')').next().unwrap()).collect();
    assert!(links.len() >= 10, "{links:?}");
    for link in links {
        assert!(anchors.contains(link), "the contents link #{link} names no heading: {anchors:?}");
    }
    let at = |text: &str| README.find(text).unwrap_or_else(|| panic!("README lacks {text}"));
    assert!(at("## Quick start") < at("## A tour with curl"));
    assert!(at("## A tour with curl") < at("# Reference\n"));
    for reference in ["## Rendered configuration", "## Errors", "## Configuration", "## Deployment"] {
        assert!(at("# Reference\n") < at(reference), "{reference} is reference material");
    }
    assert!(at("cargo install --path api") < at("## A tour with curl"), "how to get `certmap` on PATH, once, early");
}

#[test]
fn licence_changelog_and_compose_say_what_they_should() {
    assert!(CARGO.contains("license = \"MIT\""), "the manifest's licence");
    let licence = include_str!("../../LICENSE");
    assert!(licence.starts_with("MIT License\n") && licence.contains("THE SOFTWARE IS PROVIDED \"AS IS\""));
    let changelog = include_str!("../../CHANGELOG.md");
    let version = env!("CARGO_PKG_VERSION");
    assert!(changelog.contains(&format!("## [{version}]")), "CHANGELOG.md has an entry for {version}");
    let compose = include_str!("../../docker-compose.yml");
    assert!(!compose.contains("change-me"), "no default database password");
    assert_eq!(compose.matches("${CERTMAP_DB_PASSWORD:?").count(), 2, "compose refuses to start without one");
}
