pub mod api_clients;
pub mod audit;
pub mod crls;
pub mod directories;
pub mod many_to_one;
pub mod mappings;
pub mod sites;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);
