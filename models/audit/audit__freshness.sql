{{ config(schema='audit', materialized='view') }}

{#- Freshness per Iterable object: when Iterable last accepted a record of it, how old the
    newest commercetools change it carried is, and what is still waiting (open rejections).
    Objects that never synced appear too, with nulls, so a silent object is visible. -#}

with

objects as (

    select 'users' as object, 1 as delivery_order
    union all select 'subscriptions', 2
    union all select 'purchases', 3
    union all select 'carts', 4
    union all select 'events', 5
    union all select 'catalog_items', 6
    union all select 'user_deletions', 7

),

changelog as (

    select * from {{ source('ctsync', 'sync_changelog') }}

),

ledger as (

    select * from {{ source('ctsync', 'sync_ledger') }}

),

rejections as (

    select * from {{ source('ctsync', 'sync_rejections') }}

),

deliveries as (

    select
        object,
        max(attempted_at) as last_delivered_at,
        max(source_updated_at) as newest_source_change_delivered_at
    from changelog
    where outcome = 'succeeded'
    group by object

),

acknowledged as (

    select
        object,
        sum(case when operation = 'delete' then 0 else 1 end) as acknowledged_record_count,
        max(acknowledged_at) as last_acknowledged_at
    from ledger
    group by object

),

open_rejections as (

    select
        object,
        count(*) as open_rejection_count
    from rejections
    where resolved_at is null
    group by object

),

final as (

    select
        objects.object,
        objects.delivery_order,
        deliveries.last_delivered_at,
        deliveries.newest_source_change_delivered_at,
        acknowledged.last_acknowledged_at,
        coalesce(acknowledged.acknowledged_record_count, 0) as acknowledged_record_count,
        coalesce(open_rejections.open_rejection_count, 0) as open_rejection_count,
        {{ dbt.datediff('deliveries.last_delivered_at', ctsync_now(), 'second') }} / 3600.0 as hours_since_last_delivery
    from objects
    left join deliveries
        on objects.object = deliveries.object
    left join acknowledged
        on objects.object = acknowledged.object
    left join open_rejections
        on objects.object = open_rejections.object

)

select * from final
