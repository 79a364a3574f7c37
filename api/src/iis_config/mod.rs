//! Reading an existing IIS configuration — `applicationHost.config`, an exported `<location>`, or a
//! `web.config` — for what it says about client-certificate mapping: findings in IIS's own terms
//! (the status and sub-status a user sees, the fix), and an import plan of what certmap can store.
//! Pure: no HTTP, SQL or async, so `certmap lint` runs without a server or database.

pub mod analyze;
pub mod model;
pub mod report;
pub mod xml;

#[cfg(test)]
mod bounds_tests;
#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod round_trip_tests;

pub use analyze::{analyze, Analysis, ManyToOnePlan, OneToOnePlan, Options, Plan, SitePlan};
pub use model::Source;

use crate::domain::lint::Severity;

/// One thing wrong (or worth knowing) about the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// The `<location path>` concerned: `""` for the server level, absent for a web.config or the
    /// file as a whole.
    pub location_path: Option<String>,
    /// 1-based line of the element concerned.
    pub line: Option<u32>,
    /// What IIS does with this configuration.
    pub iis_symptom: &'static str,
    pub fix: String,
    /// Import refuses the file unless asked to repair this (`repair=true`).
    pub blocks_import: bool,
}

impl Finding {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}
