// @generated automatically by Diesel CLI.

diesel::table! {
    alliance_change_stats (organization_id, instrument_key, shard) {
        organization_id -> Uuid,
        instrument_key -> Text,
        shard -> Int2,
        n -> Int8,
        sum -> Float8,
        sum_sq -> Float8,
    }
}

diesel::table! {
    alliance_clinician_clients (organization_id, clinician_key, client_id) {
        organization_id -> Uuid,
        clinician_key -> Uuid,
        client_id -> Uuid,
        months -> Array<Date>,
        first_month -> Nullable<Date>,
        last_month -> Nullable<Date>,
    }
}

diesel::table! {
    alliance_clinician_sums (organization_id, grain, period, clinician_key, shard) {
        organization_id -> Uuid,
        grain -> Text,
        period -> Date,
        clinician_key -> Uuid,
        shard -> Int2,
        total_n -> Int4,
        total_sum -> Int8,
        total_sum_sq -> Int8,
        below_cutoff -> Int4,
        ceiling -> Int4,
        srs_n -> Int4,
        relationship_sum -> Int8,
        relationship_sum_sq -> Int8,
        goals_topics_sum -> Int8,
        goals_topics_sum_sq -> Int8,
        approach_method_sum -> Int8,
        approach_method_sum_sq -> Int8,
        overall_sum -> Int8,
        overall_sum_sq -> Int8,
        wai_n -> Int4,
        goal_sum -> Float8,
        goal_sum_sq -> Float8,
        task_sum -> Float8,
        task_sum_sq -> Float8,
        bond_sum -> Float8,
        bond_sum_sq -> Float8,
    }
}

diesel::table! {
    alliance_rollup (organization_id, month, episode_id, clinician_key) {
        organization_id -> Uuid,
        month -> Date,
        episode_id -> Uuid,
        clinician_key -> Uuid,
        client_id -> Uuid,
        total_n -> Int4,
        total_sum -> Int8,
        total_sum_sq -> Int8,
        below_cutoff -> Int4,
        ceiling -> Int4,
        srs_n -> Int4,
        relationship_sum -> Int8,
        relationship_sum_sq -> Int8,
        goals_topics_sum -> Int8,
        goals_topics_sum_sq -> Int8,
        approach_method_sum -> Int8,
        approach_method_sum_sq -> Int8,
        overall_sum -> Int8,
        overall_sum_sq -> Int8,
        wai_n -> Int4,
        goal_sum -> Float8,
        goal_sum_sq -> Float8,
        task_sum -> Float8,
        task_sum_sq -> Float8,
        bond_sum -> Float8,
        bond_sum_sq -> Float8,
    }
}

diesel::table! {
    audit_events (organization_id, id) {
        organization_id -> Uuid,
        id -> Uuid,
        occurred_at -> Timestamptz,
        actor_id -> Nullable<Uuid>,
        actor_role -> Nullable<Text>,
        action -> Text,
        resource_type -> Text,
        resource_id -> Nullable<Uuid>,
        request_id -> Nullable<Text>,
        outcome -> Text,
        detail -> Jsonb,
    }
}

diesel::table! {
    client_assertions (organization_id, service_account_id, jti) {
        organization_id -> Uuid,
        service_account_id -> Uuid,
        jti -> Text,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    clients (organization_id, id) {
        organization_id -> Uuid,
        id -> Uuid,
        external_id -> Text,
        age_group -> Text,
        display_name -> Nullable<Text>,
        birth_year -> Nullable<Int4>,
        attributes -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    episodes (organization_id, id) {
        organization_id -> Uuid,
        id -> Uuid,
        client_id -> Uuid,
        clinician_id -> Uuid,
        started_on -> Date,
        ended_on -> Nullable<Date>,
        program -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    etr_reference (organization_id, instrument_key, intake_hundredths, session_number) {
        organization_id -> Uuid,
        instrument_key -> Text,
        intake_hundredths -> Int4,
        session_number -> Int4,
        totals -> Array<Int4>,
    }
}

diesel::table! {
    form_request_items (organization_id, form_request_id, instrument_key) {
        organization_id -> Uuid,
        form_request_id -> Uuid,
        instrument_key -> Text,
        response_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    form_requests (organization_id, id) {
        organization_id -> Uuid,
        id -> Uuid,
        session_id -> Uuid,
        episode_id -> Uuid,
        client_id -> Uuid,
        created_by -> Uuid,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (organization_id, principal_id, key) {
        organization_id -> Uuid,
        key -> Text,
        request_hash -> Text,
        status_code -> Nullable<Int4>,
        response_body -> Nullable<Jsonb>,
        created_at -> Timestamptz,
        principal_id -> Uuid,
        response_ids -> Array<Nullable<Uuid>>,
    }
}

diesel::table! {
    instrument_texts (organization_id, instrument_id, locale) {
        organization_id -> Uuid,
        instrument_id -> Uuid,
        locale -> Text,
        texts -> Jsonb,
        updated_by -> Nullable<Uuid>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    instrument_versions (organization_id, id) {
        organization_id -> Uuid,
        id -> Uuid,
        instrument_id -> Uuid,
        version -> Int4,
        definition -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    instruments (organization_id, id) {
        organization_id -> Uuid,
        id -> Uuid,
        key -> Text,
        name -> Text,
        builtin -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    login_names (login) {
        login -> Text,
        organization_id -> Uuid,
        principal_id -> Uuid,
        kind -> Text,
    }
}

diesel::table! {
    organization_settings (organization_id, version) {
        organization_id -> Uuid,
        version -> Int4,
        settings -> Jsonb,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    organizations (id) {
        id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    outcome_points (organization_id, instrument_key, episode_id, session_number) {
        organization_id -> Uuid,
        instrument_key -> Text,
        episode_id -> Uuid,
        session_number -> Int4,
        intake_hundredths -> Int4,
        total_hundredths -> Int4,
    }
}

diesel::table! {
    refresh_tokens (organization_id, id) {
        organization_id -> Uuid,
        id -> Uuid,
        family_id -> Uuid,
        user_id -> Uuid,
        secret_hash -> Text,
        issued_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    responses (organization_id, id) {
        organization_id -> Uuid,
        id -> Uuid,
        instrument_version_id -> Uuid,
        client_id -> Uuid,
        episode_id -> Uuid,
        session_id -> Nullable<Uuid>,
        rater -> Text,
        administered_at -> Timestamptz,
        answers -> Jsonb,
        scores -> Jsonb,
        comment -> Nullable<Text>,
        submitted_by -> Nullable<Uuid>,
        voided_at -> Nullable<Timestamptz>,
        void_reason -> Nullable<Text>,
        created_at -> Timestamptz,
        instrument_key -> Text,
        settings_version -> Int4,
        total_hundredths -> Int4,
        clinician_id -> Nullable<Uuid>,
        administered_at_defaulted -> Bool,
        identifier_system -> Nullable<Text>,
        identifier_value -> Nullable<Text>,
    }
}

diesel::table! {
    schema_objects (name) {
        name -> Text,
        checksum -> Text,
        installed_at -> Timestamptz,
    }
}

diesel::table! {
    service_accounts (organization_id, id) {
        organization_id -> Uuid,
        id -> Uuid,
        name -> Text,
        role -> Text,
        secret_hash -> Text,
        active -> Bool,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        jwks -> Nullable<Jsonb>,
        jwks_url -> Nullable<Text>,
    }
}

diesel::table! {
    series_states (organization_id, episode_id, instrument_key, rater) {
        organization_id -> Uuid,
        episode_id -> Uuid,
        instrument_key -> Text,
        rater -> Text,
        settings_version -> Nullable<Int4>,
        last_session_number -> Nullable<Int4>,
        last_administered_at -> Nullable<Timestamptz>,
        last_response_id -> Nullable<Uuid>,
        state -> Nullable<Jsonb>,
    }
}

diesel::table! {
    sessions (organization_id, id) {
        organization_id -> Uuid,
        id -> Uuid,
        episode_id -> Uuid,
        number -> Int4,
        occurred_at -> Timestamptz,
        created_at -> Timestamptz,
        external_id -> Nullable<Text>,
    }
}

diesel::table! {
    signals (organization_id, id) {
        organization_id -> Uuid,
        id -> Uuid,
        kind -> Text,
        severity -> Text,
        client_id -> Uuid,
        episode_id -> Uuid,
        session_id -> Nullable<Uuid>,
        clinician_id -> Uuid,
        response_id -> Nullable<Uuid>,
        instrument_key -> Nullable<Text>,
        response_ids -> Array<Nullable<Uuid>>,
        evidence -> Jsonb,
        status -> Text,
        acknowledged_by -> Nullable<Uuid>,
        acknowledged_at -> Nullable<Timestamptz>,
        resolved_by -> Nullable<Uuid>,
        resolved_at -> Nullable<Timestamptz>,
        resolution_note -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (organization_id, id) {
        organization_id -> Uuid,
        id -> Uuid,
        email -> Text,
        display_name -> Nullable<Text>,
        role -> Text,
        external_id -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(alliance_change_stats -> organizations (organization_id));
diesel::joinable!(alliance_clinician_sums -> organizations (organization_id));
diesel::joinable!(clients -> organizations (organization_id));
diesel::joinable!(etr_reference -> organizations (organization_id));
diesel::joinable!(idempotency_keys -> organizations (organization_id));
diesel::joinable!(instruments -> organizations (organization_id));
diesel::joinable!(organization_settings -> organizations (organization_id));
diesel::joinable!(service_accounts -> organizations (organization_id));
diesel::joinable!(users -> organizations (organization_id));

diesel::table! {
    webhooks (organization_id, id) {
        organization_id -> Uuid,
        id -> Uuid,
        url -> Text,
        event_types -> Array<Text>,
        description -> Nullable<Text>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamptz>,
        active -> Bool,
        disabled_reason -> Nullable<Text>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

// `xact` (xid8) is left out: only raw SQL in db::webhooks reads or writes it.
diesel::table! {
    webhook_events (organization_id, id) {
        organization_id -> Uuid,
        id -> Uuid,
        event_type -> Text,
        client_id -> Nullable<Uuid>,
        payload -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_deliveries (organization_id, id) {
        organization_id -> Uuid,
        id -> Uuid,
        webhook_id -> Uuid,
        event_id -> Uuid,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        claimed_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_attempts (organization_id, delivery_id, attempt) {
        organization_id -> Uuid,
        delivery_id -> Uuid,
        attempt -> Int4,
        started_at -> Timestamptz,
        duration_ms -> Int4,
        status_code -> Nullable<Int4>,
        error -> Nullable<Text>,
    }
}

// The export tables. `responses.change_xact` (xid8) is left out: only raw SQL in db::export
// reads it.
diesel::table! {
    organization_keys (organization_id) {
        organization_id -> Uuid,
        pseudonym_key -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    bulk_exports (organization_id, id) {
        organization_id -> Uuid,
        id -> Uuid,
        requested_by -> Uuid,
        requester_role -> Text,
        level -> Text,
        resource_types -> Array<Text>,
        since -> Nullable<Timestamptz>,
        request_url -> Text,
        status -> Text,
        progress -> Nullable<Text>,
        error -> Nullable<Text>,
        transaction_time -> Nullable<Timestamptz>,
        claimed_until -> Nullable<Timestamptz>,
        attempts -> Int4,
        created_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        expires_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    bulk_export_files (organization_id, id) {
        organization_id -> Uuid,
        export_id -> Uuid,
        id -> Uuid,
        resource_type -> Text,
        part -> Int4,
        resources -> Int4,
        content -> Bytea,
    }
}

// Transcript analyses (migration 000014).
diesel::table! {
    session_transcripts (organization_id, session_id) {
        organization_id -> Uuid,
        session_id -> Uuid,
        episode_id -> Uuid,
        client_id -> Uuid,
        clinician_id -> Uuid,
        session_occurred_at -> Timestamptz,
        version -> Int4,
        rules_version -> Text,
        settings_version -> Int4,
        language -> Text,
        analysis -> Jsonb,
        metrics -> Jsonb,
        text_key_id -> Nullable<Text>,
        text_sealed -> Nullable<Bytea>,
        uploaded_by -> Uuid,
        uploaded_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    session_transcripts,
    organization_keys,
    bulk_exports,
    bulk_export_files,
    webhook_attempts,
    webhook_deliveries,
    webhook_events,
    webhooks,
    client_assertions,
    alliance_change_stats,
    alliance_clinician_clients,
    alliance_clinician_sums,
    alliance_rollup,
    audit_events,
    clients,
    episodes,
    etr_reference,
    form_request_items,
    form_requests,
    idempotency_keys,
    instrument_texts,
    instrument_versions,
    instruments,
    login_names,
    organization_settings,
    organizations,
    outcome_points,
    refresh_tokens,
    responses,
    schema_objects,
    service_accounts,
    series_states,
    sessions,
    signals,
    users,
);
