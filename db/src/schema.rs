// Kept by hand in step with migrations/; `diesel print-schema` would write the same.

diesel::table! {
    sites (id) {
        id -> Int8,
        name -> Text,
        hostnames -> Array<Text>,
        mapping_enabled -> Bool,
        one_to_one_enabled -> Bool,
        many_to_one_enabled -> Bool,
        logon_method -> Text,
        default_logon_domain -> Text,
        revision -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    directories (id) {
        id -> Int8,
        site_id -> Int8,
        path -> Text,
        require_ssl -> Bool,
        client_certificates -> Text,
        anonymous_auth -> Bool,
        basic_auth -> Bool,
        windows_auth -> Bool,
        digest_auth -> Bool,
        revision -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(directories -> sites (site_id));
diesel::allow_tables_to_appear_in_same_query!(sites, directories);
