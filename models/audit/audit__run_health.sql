{{ config(schema='audit', materialized='view') }}

with

runs as (

    select * from {{ source('ctsync', 'sync_runs') }}

),

stages as (

    select * from {{ source('ctsync', 'sync_run_stages') }}

),

stage_seconds as (

    select
        run_id,
        sum(
            case when stage = 'ingest' then {{ dbt.datediff('started_at', 'finished_at', 'millisecond') }} end
        ) / 1000.0 as ingest_seconds,
        sum(
            case when stage = 'dbt' then {{ dbt.datediff('started_at', 'finished_at', 'millisecond') }} end
        ) / 1000.0 as dbt_seconds,
        sum(
            case when stage = 'sync' then {{ dbt.datediff('started_at', 'finished_at', 'millisecond') }} end
        ) / 1000.0 as sync_seconds,
        sum(
            case when stage = 'compact' then {{ dbt.datediff('started_at', 'finished_at', 'millisecond') }} end
        ) / 1000.0 as compact_seconds,
        max(case when status = 'failed' then stage end) as failed_stage
    from stages
    group by run_id

),

final as (

    select
        runs.run_id,
        runs.trigger,
        runs.mode,
        runs.objects,
        runs.status,
        runs.started_at,
        runs.finished_at,
        cast(runs.started_at as date) as started_date,
        {{ dbt.datediff('runs.started_at', 'runs.finished_at', 'millisecond') }} / 1000.0
            as duration_seconds,
        stage_seconds.ingest_seconds,
        stage_seconds.dbt_seconds,
        stage_seconds.sync_seconds,
        stage_seconds.compact_seconds,
        stage_seconds.failed_stage,
        coalesce(runs.planned_count, 0) as planned_count,
        coalesce(runs.sent_count, 0) as sent_count,
        coalesce(runs.succeeded_count, 0) as succeeded_count,
        coalesce(runs.rejected_count, 0) as rejected_count,
        coalesce(runs.request_count, 0) as request_count,
        case
            when coalesce(runs.sent_count, 0) = 0 then null
            else cast(runs.succeeded_count as double precision) / runs.sent_count
        end as success_rate,
        runs.status in ('succeeded', 'succeeded_with_rejections', 'dry_run') as is_successful,
        runs.error_message
    from runs
    left join stage_seconds
        on runs.run_id = stage_seconds.run_id

)

select * from final
