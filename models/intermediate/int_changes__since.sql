{{ config(materialized='view') }}
-- Where the models that rebuild only what changed start: the last dbt build of a job that
-- succeeded (ctsync.sync_dbt_builds, written by the job runner), as the newest commercetools
-- dlt load it saw, the time it started (`changed_at`, a second early: rounding) and the time
-- it ended (`stamped_at`). What changed after it started (the clock, the sync's and the
-- ingest's writes) is rebuilt. A row a build decides in full and stamps when it changes
-- (int_iterable__identities, contacts, store markets: `changed_at`) counts from the build's
-- end: the build that stamped it rebuilt what depends on it (the lists of what changed are
-- built after it). A superset of what changed is rebuilt, never less. `is_everything`:
-- rebuild every row, when there is no such build, or reference data changed since (stores,
-- customer groups, products, categories, custom types) or a store's market did.
with

record_loads as (

    select * from {{ ref('stg_commercetools__record_loads') }}

),

markets as (

    select * from {{ ref('int_stores__markets') }}

),

last_build as (

    select
        built_at,
        seconds,
        markers

    from {{ source('ctsync', 'sync_dbt_builds') }}
    where succeeded
    order by built_at desc
    limit 1

),

starts as (

    select
        coalesce({{ ctsync_json_text('markers', '$."commercetools._dlt_loads"') }}, '') as load_id,
        {{ dbt.dateadd('second', '-1 * (coalesce(seconds, 0) + 1)', 'built_at') }} as changed_at,
        built_at as stamped_at

    from last_build

),

final as (

    select
        coalesce(starts.load_id, '') as load_id,
        starts.changed_at,
        starts.stamped_at,
        starts.changed_at is null
        or exists (
            select 1 from record_loads
            where record_loads.table_name in ('products', 'categories', 'customer_groups', 'stores', 'types')
                and record_loads.load_id > starts.load_id
        )
        or exists (
            select 1 from markets
            where markets.changed_at > starts.stamped_at
        ) as is_everything

    from (select 1 as one_row) as one_row
    left join starts
        on 1 = 1

)

select * from final
