-- Desired custom events: every event of int_iterable__events inside the backfill window
-- (int_iterable__backfill_window). Events from before it are history: never sent, so that
-- turning the sync on fires no journey for the past; iterable__events_skipped counts them.
-- Every event has a deterministic id (`event_id`) so a resend updates instead of
-- duplicating. Events are never removed.
with

events as (

    select * from {{ ref('int_iterable__events') }}

),

backfill_window as (

    select * from {{ ref('int_iterable__backfill_window') }}

),

final as (

    select
        events.record_key,
        events.event_id,
        events.payload,
        events.payload_hash,
        events.source_updated_at

    from events
    cross join backfill_window
    where backfill_window.event_window_start_at is null
        or events.occurred_at >= backfill_window.event_window_start_at

)

select * from final
