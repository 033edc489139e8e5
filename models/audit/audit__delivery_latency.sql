{{ config(schema='audit', materialized='view') }}

{#- Delivery latency: commercetools change time (`source_updated_at`) to the moment
    Iterable accepted the record (`attempted_at` of its succeeded changelog row). Only
    records with a known change time count; deletes detected by reconciliation have none. -#}

with

changelog as (

    select * from {{ source('ctsync', 'sync_changelog') }}

),

final as (

    select
        changelog_id,
        run_id,
        object,
        record_key,
        operation,
        source_updated_at,
        attempted_at,
        cast(attempted_at as date) as attempted_date,
        {{ dbt.datediff('source_updated_at', 'attempted_at', 'millisecond') }} / 1000.0 as latency_seconds
    from changelog
    where outcome = 'succeeded'
        and source_updated_at is not null

)

select * from final
