{{
    config(
        materialized='incremental',
        unique_key='record_key',
        incremental_strategy='ctsync_replace',
        ctsync_changes='int_iterable__changed_sources',
        ctsync_replace_by='source_key',
        on_schema_change='fail',
        post_hook="{{ iterable_events_prune() }}",
    )
}}
-- depends_on: {{ ref('int_iterable__changed_sources') }}
-- depends_on: {{ ref('int_changes__since') }}
-- Desired custom events: every event of int_iterable__events inside the backfill window
-- (int_iterable__backfill_window). Events from before it are history: never sent, so that
-- turning the sync on fires no journey for the past; iterable__events_skipped counts them.
-- Every event has a deterministic id (`event_id`) so a resend updates instead of
-- duplicating. Events are never removed.
-- Incremental: a build replaces the events of the records of int_iterable__changed_sources
-- (`source_key`), or every event when the window moved since the last build; each row keeps
-- the window it was chosen in (`event_window_start_at`): the post-hook drops the rows of an
-- earlier one.
with

events as (

    select * from {{ ref('int_iterable__events') }}

),

backfill_window as (

    select * from {{ ref('int_iterable__backfill_window') }}

),

events_to_build as (

    select *
    from events
    where {{ ctsync_only_changed('events.source_key', 'int_iterable__changed_sources', inline=false) }}
        {%- if is_incremental() %}
        or {{ iterable_backfill_window_moved() }}
        {%- endif %}

),

final as (

    select
        events_to_build.record_key,
        events_to_build.record_key as event_id,
        events_to_build.payload,
        events_to_build.payload_hash,
        events_to_build.source_updated_at,
        events_to_build.source_key,
        backfill_window.event_window_start_at

    from events_to_build
    cross join backfill_window
    where backfill_window.event_window_start_at is null
        or events_to_build.occurred_at >= backfill_window.event_window_start_at

)

select * from final
