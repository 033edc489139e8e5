{{
    config(
        materialized='incremental',
        unique_key='order_line_item_id',
        incremental_strategy='ctsync_replace',
        ctsync_changes='int_changes__orders',
        ctsync_replace_by='order_id',
        on_schema_change='fail',
    )
}}
-- depends_on: {{ ref('int_changes__orders') }}
-- Order lines with their order, product name, category path and base-currency value: the
-- shared line logic that fct_order_lines and the customer models read.
-- Incremental: an incremental build rebuilds the lines of int_changes__orders only (an order
-- edit that removes a line removes its row). Product and category changes reach old lines
-- only when everything is rebuilt (int_changes__since: reference data changed).
-- A line's product name: the order's locale, then the order's store's languages, then the
-- project's, then any locale with text (ctsync_localized), and only then the SKU.
with

order_line_items as (

    select * from {{ ref('stg_commercetools__order_line_items') }}
    where {{ ctsync_only_changed('order_id', 'int_changes__orders') }}

),

orders as (

    select * from {{ ref('stg_commercetools__orders') }}
    where {{ ctsync_only_changed('order_id', 'int_changes__orders') }}

),

category_paths as (

    select * from {{ ref('int_products__category_paths') }}

),

markets as (

    select * from {{ ref('int_stores__markets') }}

),

fx_rates as (

    {{ ctsync_fx_rates_to_base() }}

),

joined as (

    select
        order_line_items.order_line_item_id,
        order_line_items.order_id,
        order_line_items.line_position,
        orders.order_number,
        orders.customer_id,
        orders.customer_email_normalized,
        orders.store_key,
        orders.locale,
        orders.order_state,
        orders.order_state <> 'Cancelled' as is_counted_in_lifetime_value,
        orders.created_at as ordered_at,
        orders.last_modified_at as order_last_modified_at,
        order_line_items.product_id,
        order_line_items.product_key,
        order_line_items.variant_id,
        order_line_items.sku,
        coalesce(
            {{ ctsync_localized_for('order_line_items.product_name_localized', 'orders.locale') }},
            order_line_items.sku,
            order_line_items.product_id
        ) as product_name,
        category_paths.primary_category_id,
        category_paths.category_path,
        category_paths.category_path_json,
        order_line_items.image_url,
        order_line_items.line_item_mode,
        order_line_items.quantity,
        order_line_items.currency_code,
        order_line_items.unit_price_amount,
        cast(order_line_items.unit_price_amount as decimal(38, 6)) * order_line_items.quantity as gross_amount,
        order_line_items.line_total_amount,
        order_line_items.line_tax_amount,
        order_line_items.tax_rate,
        fx_rates.rate as fx_rate_to_base

    from order_line_items
    inner join orders
        on order_line_items.order_id = orders.order_id
    left join category_paths
        on order_line_items.product_id = category_paths.product_id
    left join markets
        on orders.store_key = markets.store_key
    left join fx_rates
        on order_line_items.currency_code = fx_rates.currency_code

),

final as (

    select
        order_line_item_id,
        order_id,
        line_position,
        order_number,
        customer_id,
        customer_email_normalized,
        store_key,
        locale,
        order_state,
        is_counted_in_lifetime_value,
        ordered_at,
        order_last_modified_at,
        product_id,
        product_key,
        variant_id,
        sku,
        product_name,
        primary_category_id,
        category_path,
        category_path_json,
        image_url,
        line_item_mode,
        quantity,
        currency_code,
        unit_price_amount,
        cast(gross_amount as decimal(18, 6)) as gross_amount,
        cast(gross_amount - line_total_amount as decimal(18, 6)) as discount_amount,
        line_total_amount,
        line_tax_amount,
        tax_rate,
        -- widened before multiplying: two decimal(18, 6) factors overflow an 18-digit product
        cast(cast(line_total_amount as decimal(38, 6)) * fx_rate_to_base as decimal(18, 6)) as line_total_base_amount

    from joined

)

select * from final
