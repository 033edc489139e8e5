{#-
    The one definition of the sync's state and audit tables.

    Used twice:
      * by dbt, through the `on-run-start` hook in dbt_project.yml (`ctsync_create_audit_tables`),
        so the ledger exists before any `iterable__*_changes` model reads it;
      * by the sync (`core/warehouse.py`), which renders `ctsync_audit_ddl` with plain Jinja2
        and executes the statements before it writes.

    Keep the SQL portable (ANSI types, no adapter-only syntax): it must run on DuckDB and on
    the warehouses listed in the README. Payloads are JSON text in `varchar` columns, stored
    as `ctsync_compressed_text()` says (macros/ctsync_storage.sql: ZSTD on DuckDB), as are the
    changelog's ids and keys.
-#}

{% macro ctsync_audit_ddl(schema) -%}
create schema if not exists {{ schema }};

-- One row per (object, record_key): the sync replaces a key's row (delete and insert, in one
-- transaction) and a data test checks it in full builds (source ctsync.sync_ledger). No
-- primary key: its index was half the table's bytes on disk (63 of 123 MB at 100 000
-- customers), DuckDB rewrote it whole at every checkpoint, and nothing looks a row up by key
-- (the `_changes` views and the sync join the ledger by hash). The same holds for
-- sync_user_profiles (one row per record_key). A table created with the key loses it once
-- (core/warehouse.py `drop_unneeded_primary_keys`).
create table if not exists {{ schema }}.sync_ledger (
    object varchar not null,
    record_key varchar {{ ctsync_compressed_text() }} not null,
    operation varchar not null,
    payload_hash varchar,
    payload varchar {{ ctsync_compressed_text() }},
    run_id varchar not null,
    acknowledged_at timestamp not null
);

-- Per Iterable user profile this project wrote: which customer it belongs to, a hash of the
-- email it was sent with and the names of the dataFields it sent with a value, no values:
-- a field is cleared (sent as null) only when this project set it before, and an email change
-- is detected from the hash.
create table if not exists {{ schema }}.sync_user_profiles (
    record_key varchar not null,
    customer_id varchar,
    email_hash varchar,
    field_names varchar,
    acknowledged_at timestamp not null
);

create table if not exists {{ schema }}.sync_runs (
    run_id varchar not null primary key,
    trigger varchar not null,
    mode varchar not null,
    objects varchar,
    status varchar not null,
    started_at timestamp not null,
    finished_at timestamp,
    planned_count bigint,
    sent_count bigint,
    succeeded_count bigint,
    rejected_count bigint,
    request_count bigint,
    error_message varchar
);

create table if not exists {{ schema }}.sync_run_objects (
    run_id varchar not null,
    object varchar not null,
    planned_count bigint not null,
    sent_count bigint not null,
    succeeded_count bigint not null,
    rejected_count bigint not null,
    request_count bigint not null,
    primary key (run_id, object)
);

create table if not exists {{ schema }}.sync_run_stages (
    run_id varchar not null,
    stage varchar not null,
    status varchar not null,
    started_at timestamp not null,
    finished_at timestamp,
    detail varchar,
    primary key (run_id, stage)
);

-- Append-only, one row per record per attempt: its ids and keys are stored compressed (not
-- the hash: random hex, which ZSTD stores larger than DuckDB's own choice), and
-- `changelog_id` (a random prefix per request group + the row's position in it, unique by
-- construction) has no index: nothing looks a row up by it.
create table if not exists {{ schema }}.sync_changelog (
    changelog_id varchar {{ ctsync_compressed_text() }} not null,
    run_id varchar not null,
    object varchar not null,
    record_key varchar {{ ctsync_compressed_text() }} not null,
    operation varchar not null,
    idempotency_key varchar {{ ctsync_compressed_text() }},
    payload_hash varchar,
    endpoint varchar,
    http_status integer,
    outcome varchar not null,
    reason_code varchar,
    source_updated_at timestamp,
    attempted_at timestamp not null
);

create table if not exists {{ schema }}.sync_rejections (
    object varchar not null,
    record_key varchar not null,
    reason_code varchar not null,
    reason_detail varchar,
    payload varchar {{ ctsync_compressed_text() }},
    payload_hash varchar,
    attempts integer not null,
    first_seen_at timestamp not null,
    last_seen_at timestamp not null,
    last_run_id varchar,
    replay_requested_at timestamp,
    resolved_at timestamp
);

create table if not exists {{ schema }}.sync_deletion_guards (
    object varchar not null primary key,
    deletions bigint,
    held bigint,
    max_delete_fraction double precision,
    min_records bigint,
    blocked_at timestamp,
    run_id varchar,
    released_count bigint,
    released_at timestamp
);

-- One-off data migrations of these tables already applied to this warehouse
-- (`ctsync.sync.privacy.minimize_legacy_ledger`: `ledger_payloads_minimized`).
create table if not exists {{ schema }}.sync_migrations (
    name varchar not null primary key,
    applied_at timestamp not null
);

-- One row per dbt build of a job (`ctsync.app.jobs.selection`): what it built and why, and
-- markers of what it read. Models that rebuild only what changed start from the last one
-- that succeeded (int_changes__customers).
create table if not exists {{ schema }}.sync_dbt_builds (
    run_id varchar,
    built_at timestamp not null,
    kind varchar not null,
    selection varchar,
    reason varchar,
    fingerprint varchar not null,
    markers varchar,
    succeeded boolean not null,
    seconds double
);

create table if not exists {{ schema }}.sync_purges (
    key_hash varchar not null,
    purged_at timestamp not null,
    rows_removed bigint not null,
    detail varchar
);
{%- endmacro %}


{% macro ctsync_create_audit_tables() -%}
    {{ ctsync_audit_ddl(var('ctsync_audit_schema', 'ctsync')) }}
{%- endmacro %}
