{{ config(schema='audit', materialized='view') }}

with

rejections as (

    select * from {{ source('ctsync', 'sync_rejections') }}

),

final as (

    select
        object || ':' || reason_code as rejection_group_id,
        object,
        reason_code,
        sum(case when resolved_at is null then 1 else 0 end) as open_count,
        sum(case when resolved_at is null then 0 else 1 end) as resolved_count,
        sum(
            case when resolved_at is null and replay_requested_at is not null then 1 else 0 end
        ) as replay_requested_count,
        max(attempts) as max_attempts,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        min(case when resolved_at is null then reason_detail end) as example_reason_detail,
        min(case when resolved_at is null then record_key end) as example_record_key
    from rejections
    group by object, reason_code

)

select * from final
