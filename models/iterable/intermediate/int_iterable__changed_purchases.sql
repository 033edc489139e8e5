{{ config(materialized='table', tags=['ctsync_changes']) }}
-- The purchases (`record_key`: the order id) whose rows iterable__purchases rebuilds in an
-- incremental build: the orders that changed since the last build (int_changes__orders) and
-- the orders of customers changed since, or whose identity changed without a change of their
-- own (int_iterable__changed_customers: they lost or won a duplicate email when another
-- customer's changed). A table every selective build recomputes (tag `ctsync_changes`).
with

changed_orders as (

    select * from {{ ref('int_changes__orders') }}

),

changed_customers as (

    select * from {{ ref('int_iterable__changed_customers') }}

),

orders as (

    select * from {{ ref('stg_commercetools__orders') }}

),

final as (

    select order_id as record_key
    from changed_orders

    union

    select orders.order_id as record_key
    from orders
    inner join changed_customers
        on orders.customer_id = changed_customers.customer_id

)

select record_key from final
