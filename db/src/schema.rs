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
        trusted_cas -> Array<Bytea>,
        revocation_check -> Text,
        revocation_when_unknown -> Text,
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

diesel::table! {
    mappings (id) {
        id -> Int8,
        site_id -> Int8,
        user_name -> Text,
        password_enc -> Nullable<Bytea>,
        enabled -> Bool,
        description -> Nullable<Text>,
        expires_at -> Nullable<Timestamptz>,
        allow_expired -> Bool,
        certificate -> Bytea,
        sha1 -> Text,
        sha256 -> Text,
        spki_sha256 -> Text,
        subject -> Text,
        issuer -> Text,
        serial -> Text,
        san_dns -> Array<Text>,
        san_email -> Array<Text>,
        san_uri -> Array<Text>,
        not_before -> Timestamptz,
        not_after -> Timestamptz,
        key_type -> Text,
        key_bits -> Nullable<Int4>,
        revision -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    many_to_one_mappings (id) {
        id -> Int8,
        site_id -> Int8,
        name -> Text,
        description -> Nullable<Text>,
        enabled -> Bool,
        permission_mode -> Text,
        user_name -> Nullable<Text>,
        password_enc -> Nullable<Bytea>,
        rules -> Jsonb,
        revision -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(mappings -> sites (site_id));
diesel::joinable!(many_to_one_mappings -> sites (site_id));

diesel::table! {
    audit_events (id) {
        id -> Int8,
        at -> Timestamptz,
        actor -> Text,
        role -> Text,
        action -> Text,
        site_id -> Nullable<Int8>,
        resource -> Text,
        resource_id -> Nullable<Int8>,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
        remote_addr -> Nullable<Text>,
    }
}

diesel::table! {
    api_clients (id) {
        id -> Int8,
        name -> Text,
        sha256 -> Text,
        role -> Text,
        sites -> Nullable<Array<Text>>,
        created_at -> Timestamptz,
        client_identity -> Nullable<Text>,
    }
}

diesel::table! {
    crls (id) {
        id -> Int8,
        ca_sha256 -> Text,
        issuer -> Text,
        der -> Bytea,
        der_sha256 -> Text,
        crl_number -> Nullable<Text>,
        this_update -> Timestamptz,
        next_update -> Nullable<Timestamptz>,
        entries -> Int4,
        source -> Text,
        fetch_outcome -> Nullable<Text>,
        fetched_at -> Nullable<Timestamptz>,
        stored_at -> Timestamptz,
    }
}

diesel::table! {
    crl_entries (crl_id, serial) {
        crl_id -> Int8,
        serial -> Text,
        revoked_at -> Timestamptz,
        reason -> Nullable<Text>,
    }
}

diesel::joinable!(crl_entries -> crls (crl_id));

diesel::allow_tables_to_appear_in_same_query!(
    sites,
    directories,
    mappings,
    many_to_one_mappings,
    audit_events,
    api_clients,
    crls,
    crl_entries
);
