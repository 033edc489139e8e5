{{ config(schema='audit', materialized='view') }}

with

run_health as (

    select * from {{ ref('audit__run_health') }}

),

final as (

    select
        started_date,
        count(*) as run_count,
        sum(case when is_successful then 1 else 0 end) as successful_run_count,
        sum(case when is_successful then 0 else 1 end) as unsuccessful_run_count,
        sum(sent_count) as sent_count,
        sum(succeeded_count) as succeeded_count,
        sum(rejected_count) as rejected_count,
        avg(duration_seconds) as avg_duration_seconds,
        max(duration_seconds) as max_duration_seconds,
        max(started_at) as last_started_at
    from run_health
    group by started_date

)

select * from final
