//! ARCHITECTURE.md stays true about the tree: every directory and source file it names in
//! backquotes exists.

use std::path::Path;

#[test]
fn every_path_architecture_md_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root");
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md at the root");
    let named: Vec<&str> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| (s.ends_with('/') || s.ends_with(".rs")) && !s.contains(' ') && !s.contains('<'))
        .collect();
    assert!(named.len() > 20, "ARCHITECTURE.md names too few paths ({}): did the format change?", named.len());
    // A name like `site_view.rs` is relative to the module it is described under: look for it
    // anywhere below api/, db/ and tests/.
    let missing: Vec<&str> = named.into_iter().filter(|name| !exists_somewhere(root, name)).collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md names paths that do not exist: {missing:?}");
}

fn exists_somewhere(root: &Path, name: &str) -> bool {
    let name = name.trim_end_matches('/');
    if root.join(name).exists() {
        return true;
    }
    [
        "api/src",
        "api/src/http",
        "api/src/gateway",
        "api/src/cli",
        "api/src/render",
        "api/src/domain/certificate",
        "api/src/iis_config/analyze",
        "db/src",
        "db",
        "tests",
    ]
    .iter()
    .any(|dir| root.join(dir).join(name).exists())
}
