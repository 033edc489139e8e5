{{ config(materialized='table', tags=['ctsync_changes']) }}
-- The commercetools records that changed since the last dbt build of a job that succeeded
-- (int_changes__since): those a later dlt load wrote (with their child rows: dlt rewrites
-- them with the record), and the carts the clock made abandoned since (table_name 'carts').
-- The one rule of "changed since" that int_changes__customers and
-- int_iterable__changed_sources read; a table every selective build recomputes (tag
-- `ctsync_changes`).
with

record_loads as (

    select * from {{ ref('stg_commercetools__record_loads') }}

),

carts as (

    select * from {{ ref('int_carts__enriched') }}

),

since as (

    select * from {{ ref('int_changes__since') }}

),

final as (

    select
        record_loads.table_name,
        record_loads.record_id

    from record_loads
    cross join since
    where record_loads.load_id > since.load_id

    union

    select
        'carts' as table_name,
        carts.cart_id as record_id

    from carts
    cross join since
    where carts.is_abandoned
        and carts.abandoned_at > since.changed_at

)

select * from final
