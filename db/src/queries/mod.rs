pub mod api_clients;
pub mod audit;
pub mod crls;
pub mod directories;
pub mod many_to_one;
pub mod mappings;
pub mod sites;

// Names compare by ASCII case folding only, the same rule as Rust's `str::to_ascii_lowercase` (see
// the migration ascii_name_folding): callers that fold in Rust pass `to_ascii_lowercase()` values.
diesel::define_sql_function!(fn certmap_fold(x: diesel::sql_types::Text) -> diesel::sql_types::Text);
