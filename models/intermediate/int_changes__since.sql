{{ config(materialized='view') }}
-- Where the models that rebuild only what changed start: the last dbt build of a job that
-- succeeded (ctsync.sync_dbt_builds, written by the job runner), as the newest commercetools
-- dlt load it saw and the time it started (a second early: rounding). The sync stamps its
-- writes after a build ends, the next ingest loads later still, and rows a build stamped
-- (int_iterable__identities.changed_at) count as changed in the next build too: a superset
-- of what changed is rebuilt, never less. No row when there is no such build: everything is.
with

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

final as (

    select
        coalesce({{ ctsync_json_text('markers', '$."commercetools._dlt_loads"') }}, '') as load_id,
        {{ dbt.dateadd('second', '-1 * (coalesce(seconds, 0) + 1)', 'built_at') }} as changed_at

    from last_build

)

select * from final
