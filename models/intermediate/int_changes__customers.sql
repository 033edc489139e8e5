{{ config(materialized='table', tags=['ctsync_changes']) }}
-- The customers whose rows in the models that rebuild only what changed (config
-- incremental_strategy='ctsync_replace') may differ from what the last dbt build that
-- succeeded made of them (int_changes__since):
--   * commercetools records changed since (int_changes__records: a later dlt load wrote
--     them, or the clock made a cart abandoned): the customer, their orders and carts,
--     their messages (deletion, email change);
--   * deletions found by id reconciliation since;
--   * every customer when int_changes__since says everything changed.
-- The Iterable layer adds identity and profile changes (int_iterable__changed_customers).
-- A table, computed once per build (a view was evaluated again by every model and filter
-- that reads it); every selective build of a job rebuilds it (tag `ctsync_changes`,
-- app/jobs/selection.py), before the models that read it.
with

changed_records as (

    select * from {{ ref('int_changes__records') }}

),

customers as (

    select * from {{ ref('stg_commercetools__customers') }}

),

orders as (

    select * from {{ ref('stg_commercetools__orders') }}

),

carts as (

    select * from {{ ref('int_carts__enriched') }}

),

messages as (

    select * from {{ ref('stg_commercetools__messages') }}

),

reconciled as (

    select * from {{ ref('stg_commercetools__reconciled_deletions') }}
    where resource_type_id = 'customer'

),

deleted_customers as (

    select * from {{ ref('int_customers__deleted') }}

),

since as (

    select * from {{ ref('int_changes__since') }}

),

changed as (

    select record_id as customer_id
    from changed_records
    where table_name = 'customers'

    union

    select orders.customer_id
    from changed_records
    inner join orders
        on changed_records.record_id = orders.order_id
    where changed_records.table_name = 'orders'

    union

    select carts.customer_id
    from changed_records
    inner join carts
        on changed_records.record_id = carts.cart_id
    where changed_records.table_name = 'carts'

    union

    select messages.resource_id as customer_id
    from changed_records
    inner join messages
        on changed_records.record_id = messages.message_id
    where changed_records.table_name = 'messages'
        and messages.resource_type_id = 'customer'

    union

    select reconciled.resource_id as customer_id
    from reconciled
    cross join since
    where reconciled.detected_at > since.changed_at

),

everyone as (

    select customer_id from customers
    union
    select customer_id from orders
    union
    select customer_id from carts
    union
    select customer_id from deleted_customers

),

final as (

    select changed.customer_id
    from changed
    cross join since
    where not since.is_everything

    union

    select everyone.customer_id
    from everyone
    cross join since
    where since.is_everything

)

select customer_id from final
where customer_id is not null
