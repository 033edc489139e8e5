{{
    config(
        materialized='incremental',
        unique_key='return_item_id',
        incremental_strategy='ctsync_replace',
        ctsync_changes='int_changes__orders',
        ctsync_replace_by='order_id',
        on_schema_change='fail',
    )
}}
-- depends_on: {{ ref('int_changes__orders') }}
-- Returned items, valued at what the customer paid per unit on the returned line: shared by
-- fct_returns and int_customers__returns.
-- Incremental: an incremental build rebuilds the returns of int_changes__orders only.
with

return_items as (

    select * from {{ ref('stg_commercetools__order_return_items') }}
    where {{ ctsync_only_changed('order_id', 'int_changes__orders') }}

),

order_lines as (

    select * from {{ ref('int_order_lines__enriched') }}
    where {{ ctsync_only_changed('order_id', 'int_changes__orders') }}

),

orders as (

    select * from {{ ref('int_orders__enriched') }}
    where {{ ctsync_only_changed('order_id', 'int_changes__orders') }}

),

final as (

    select
        return_items.return_item_id,
        return_items.order_id,
        return_items.order_line_item_id,
        orders.order_number,
        orders.customer_id,
        orders.customer_email_normalized,
        orders.store_key,
        orders.locale,
        orders.language_code,
        orders.channel_id,
        order_lines.product_id,
        order_lines.sku,
        order_lines.product_name,
        return_items.quantity,
        return_items.shipment_state,
        return_items.payment_state,
        return_items.return_tracking_id,
        orders.currency_code,
        cast(
            cast(order_lines.line_total_amount as decimal(38, 6)) * return_items.quantity / nullif(order_lines.quantity, 0)
            as decimal(18, 6)
        ) as returned_amount,
        cast(
            cast(order_lines.line_total_base_amount as decimal(38, 6)) * return_items.quantity / nullif(order_lines.quantity, 0)
            as decimal(18, 6)
        ) as returned_base_amount,
        coalesce(return_items.returned_at, return_items.created_at) as returned_at,
        return_items.created_at,
        return_items.last_modified_at

    from return_items
    inner join orders
        on return_items.order_id = orders.order_id
    left join order_lines
        on return_items.order_line_item_id = order_lines.order_line_item_id

)

select * from final
