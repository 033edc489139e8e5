{{ config(schema='audit', materialized='view') }}

with

latency as (

    select * from {{ ref('audit__delivery_latency') }}

),

final as (

    select
        object,
        count(*) as delivered_count,
        min(latency_seconds) as min_latency_seconds,
        percentile_cont(0.5) within group (order by latency_seconds) as p50_latency_seconds,
        percentile_cont(0.95) within group (order by latency_seconds) as p95_latency_seconds,
        max(latency_seconds) as max_latency_seconds,
        max(attempted_at) as last_delivered_at
    from latency
    group by object

)

select * from final
