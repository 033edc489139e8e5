{{
    config(
        materialized='incremental',
        unique_key='first_sync_at',
        incremental_strategy='ctsync_changed_rows',
        on_schema_change='fail',
    )
}}
{%- set event_days = var('event_backfill_days') -%}
{%- set purchase_days = var('purchase_backfill_days') -%}
-- The oldest events and purchases the sync sends: `event_backfill_days` /
-- `purchase_backfill_days` before the first sync (the first `ctsync sync` or `ctsync run`;
-- before there is one, before now). Anchored on the first sync, so it does not move: what
-- happened before it is history, acknowledged without being sent, so that turning the sync
-- on fires no journey for the past. Null days: no limit.
-- Rewritten only when it changes, stamped `changed_at` (macros/ctsync_incremental.sql): the
-- incremental iterable__events and iterable__purchases rebuild every row when it moved.
with

sync_runs as (

    select * from {{ source('ctsync', 'sync_runs') }}
    where mode in ('incremental', 'full', 'full_refresh')

),

first_sync as (

    select coalesce(min(started_at), {{ ctsync_now() }}) as first_sync_at
    from sync_runs

),

final as (

    select
        first_sync_at,
        {%- if event_days is none %}
        cast(null as {{ dbt.type_timestamp() }}) as event_window_start_at,
        {%- else %}
        cast({{ dbt.dateadd('day', -1 * (event_days | int), 'first_sync_at') }} as {{ dbt.type_timestamp() }}) as event_window_start_at,
        {%- endif %}
        {%- if purchase_days is none %}
        cast(null as {{ dbt.type_timestamp() }}) as purchase_window_start_at,
        {%- else %}
        cast({{ dbt.dateadd('day', -1 * (purchase_days | int), 'first_sync_at') }} as {{ dbt.type_timestamp() }}) as purchase_window_start_at,
        {%- endif %}
        {{ ctsync_clock() }} as changed_at

    from first_sync

)

select * from final
