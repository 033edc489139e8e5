-- Events from before the backfill window that were never sent: what the first sync leaves
-- out (`ctsync plan` shows the count). Events the sync did send earlier are not counted.
{{ config(materialized='view') }}

with

events as (

    select * from {{ ref('int_iterable__events') }}

),

backfill_window as (

    select * from {{ ref('int_iterable__backfill_window') }}

),

ledger as (

    select *
    from {{ source('ctsync', 'sync_ledger') }}
    where object = 'events'

),

final as (

    select
        events.record_key,
        events.occurred_at,
        backfill_window.event_window_start_at

    from events
    cross join backfill_window
    left join ledger
        on events.record_key = ledger.record_key
    where backfill_window.event_window_start_at is not null
        and events.occurred_at < backfill_window.event_window_start_at
        and ledger.record_key is null

)

select * from final
