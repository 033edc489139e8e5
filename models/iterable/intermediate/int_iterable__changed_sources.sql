{{ config(materialized='table', tags=['ctsync_changes']) }}
-- The records whose custom events (int_iterable__events, by `source_key`) an incremental
-- build rebuilds: `customer:<id>` of int_iterable__changed_customers; `order:<id>` of orders
-- changed since (int_changes__records) or that a message since names, and of orders whose
-- contact (the person the event goes to) changed; `cart:<id>` of carts changed since (loaded,
-- or made abandoned by the clock) or whose contact changed. Everything when int_changes__since says so.
with

since as (

    select * from {{ ref('int_changes__since') }}

),

changed_records as (

    select * from {{ ref('int_changes__records') }}

),

messages as {{ ctsync_cte_inline() }} (

    select * from {{ ref('stg_commercetools__messages') }}

),

changed_customers as (

    select * from {{ ref('int_iterable__changed_customers') }}

),

contacts as {{ ctsync_cte_inline() }} (

    select * from {{ ref('int_iterable__contact_identities') }}

),

carts as (

    select * from {{ ref('int_carts__enriched') }}

),

changed as (

    select 'customer:' || customer_id as source_key
    from changed_customers

    union

    select 'order:' || record_id as source_key
    from changed_records
    where table_name = 'orders'

    union

    -- a message is loaded once; its order may have changed in an earlier load
    select 'order:' || messages.resource_id as source_key
    from changed_records
    inner join messages
        on changed_records.record_id = messages.message_id
    where changed_records.table_name = 'messages'
        and messages.resource_type_id = 'order'

    union

    select 'cart:' || record_id as source_key
    from changed_records
    where table_name = 'carts'

    union

    select contacts.contact_type || ':' || contacts.contact_id as source_key
    from contacts
    cross join since
    where contacts.changed_at > since.stamped_at

),

everything as (

    select 'order:' || contact_id as source_key
    from contacts
    where contact_type = 'order'

    union

    select 'cart:' || cart_id as source_key
    from carts

    union

    select 'order:' || resource_id as source_key
    from messages
    where resource_type_id = 'order'

),

final as (

    select source_key from changed

    union

    select everything.source_key
    from everything
    cross join since
    where since.is_everything

)

select source_key from final
