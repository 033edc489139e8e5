{{
    config(
        materialized='incremental',
        unique_key='record_key',
        incremental_strategy='ctsync_replace',
        ctsync_changes='int_iterable__changed_purchases',
        ctsync_replace_by='record_key',
        on_schema_change='fail',
        post_hook="{{ iterable_purchases_prune() }}",
    )
}}
-- depends_on: {{ ref('int_iterable__changed_purchases') }}
-- depends_on: {{ ref('int_changes__since') }}
{%- set in_base = var('purchase_currency') == 'base' -%}
{%- if var('purchase_currency') not in ['base', 'order'] -%}
    {{ exceptions.raise_compiler_error("var purchase_currency must be base or order, got '" ~ var('purchase_currency') ~ "'") }}
{%- endif %}
-- Desired state of Iterable purchases: one trackPurchase body per order that was not
-- cancelled, of an identifiable contact. `total` and item prices are in one currency for
-- every purchase (var purchase_currency: `base` = var base_currency, the default, so that
-- Iterable's revenue figures add up; `order` = each order's own), with the order's own
-- currency and amounts in dataFields. An order in a currency without a rate in the FX seed
-- keeps its own currency (dataFields.currency says which), exactly as before. Custom line
-- items (fees, gift wrap, services) are items marked dataFields.customLineItem (below); an
-- order with no line item at all is not sent. The order id is the purchase id, so a resend updates
-- the purchase instead of duplicating it. Purchases are never removed.
-- Incremental: each build replaces the purchases of int_iterable__changed_purchases (orders
-- changed since the last build, orders of customers changed since or whose identity changed):
-- one of those that no longer qualifies (cancelled, deleted customer) is not rebuilt; the
-- post-hook also drops any other that no longer qualifies (an order contact that is no
-- longer identifiable, an order before a backfill window that moved). When the window moved
-- since the last build, every purchase is rebuilt. Changing vars, FX rates or the project type needs `ctsync build --full-refresh`.
with

orders as (

    select * from {{ ref('fct_orders') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

custom_lines as (

    select * from {{ ref('stg_commercetools__order_custom_line_items') }}

),

markets as (

    select * from {{ ref('int_stores__markets') }}

),

fx_rates as (

    {{ ctsync_fx_rates_to_base() }}

),

contacts as (

    select * from {{ ref('int_iterable__contact_identities') }}
    where contact_type = 'order'

),

backfill_window as (

    select * from {{ ref('int_iterable__backfill_window') }}

),

orders_to_build as (

    select orders.*
    from orders
    -- every order in a full build; in an incremental one, those listed (fct_orders is a
    -- view of a table: a semi-join costs less than a long list of literals)
    where {{ ctsync_only_changed('orders.order_id', 'int_iterable__changed_purchases', 'record_key', inline=false) }}
        {%- if is_incremental() %}
        or {{ iterable_backfill_window_moved() }}
        {%- endif %}

),

product_items as (

    select
        order_id,
        line_position as item_position,
        {{ iterable_commerce_item(
            id='product_id',
            sku='sku',
            name='product_name',
            name_fallback='product_id',
            category_path='category_path',
            line_total='coalesce(line_total_base_amount, line_total_amount)' if in_base else 'line_total_amount',
            quantity='quantity',
            image_url='image_url',
            data_fields=[
                ['variantId', 'variant_id'],
                ['orderCurrencyPrice', iterable_number('line_total_amount / nullif(quantity, 0)')],
                ['unitListPrice', iterable_number('unit_price_amount')],
                ['discountAmount', iterable_number('discount_amount')],
                ['lineTotal', iterable_number('line_total_amount')],
            ],
        ) }} as item

    from order_lines
    where order_id in (select order_id from orders_to_build)

),

-- Custom line items (shipping fees, gift wrap, services) are items too, after the products:
-- `id` and `sku` are the line's slug (the same fee has the same slug in every order), no
-- categories, and dataFields.customLineItem = true marks them, so that Iterable segments and
-- templates can tell a gift wrap from a product. Their amounts are in `total` already.
custom_items as (

    select
        custom_lines.order_id,
        1000000 + custom_lines.line_position as item_position,
        {{ iterable_commerce_item(
            id='coalesce(' ~ iterable_text('custom_lines.slug') ~ ', custom_lines.order_custom_line_item_id)',
            sku='custom_lines.slug',
            name=ctsync_localized_for('custom_lines.name_localized', 'orders.locale'),
            name_fallback='custom_lines.order_custom_line_item_id',
            category_path=none,
            line_total='coalesce(custom_lines.line_total_amount * fx_rates.rate, custom_lines.line_total_amount)' if in_base else 'custom_lines.line_total_amount',
            quantity='custom_lines.quantity',
            image_url=none,
            data_fields=[
                ['customLineItem', 'true'],
                ['orderCurrencyPrice', iterable_number('custom_lines.line_total_amount / nullif(custom_lines.quantity, 0)')],
                ['lineTotal', iterable_number('custom_lines.line_total_amount')],
            ],
        ) }} as item

    from custom_lines
    inner join orders_to_build as orders
        on custom_lines.order_id = orders.order_id
    left join markets
        on orders.store_key = markets.store_key
    left join fx_rates
        on custom_lines.currency_code = fx_rates.currency_code

),

all_items as (

    select * from product_items
    union all
    select * from custom_items

),

-- an order without any line item (neither product nor custom) is no purchase: Iterable
-- requires items, and audit__record_outcomes says `order_without_line_items`
items as (

    select
        order_id,
        {{ ctsync_json_array_agg('item', 'item_position') }} as items

    from all_items
    group by order_id

),

final as (

    select
        orders.order_id as record_key,
        orders.last_modified_at as source_updated_at,
        cast({{ ctsync_json_object([
            ['id', 'orders.order_id'],
            ['user', iterable_user_object('contacts.email', 'contacts.user_id')],
            ['items', 'items.items'],
            ['total', iterable_number('case when orders.has_fx_rate then orders.total_base_amount else orders.total_amount end' if in_base else 'orders.total_amount')],
            ['createdAt', ctsync_epoch_seconds('orders.created_at')],
            ['dataFields', ctsync_json_object([
                ['orderNumber', iterable_text('orders.order_number')],
                ['currency', ("case when orders.has_fx_rate then '" ~ var('base_currency') ~ "' else orders.currency_code end") if in_base else 'orders.currency_code'],
                ['orderCurrency', 'orders.currency_code'],
                ['orderTotal', iterable_number('orders.total_amount')],
                ['storeKey', 'orders.store_key'],
                ['locale', 'orders.locale'],
                ['language', 'orders.language_code'],
                ['country', 'orders.country_code'],
                ['channel', 'orders.channel_id'],
                ['subtotal', iterable_number('orders.total_amount - orders.shipping_amount')],
                ['taxAmount', iterable_number('orders.total_tax_amount')],
                ['discountAmount', iterable_number('orders.discount_amount')],
                ['shippingAmount', iterable_number('orders.shipping_amount')],
                ['totalInBaseCurrency', iterable_number('orders.total_base_amount')],
                ['isGuestOrder', 'orders.is_guest_order'],
            ])],
        ]) }} as {{ dbt.type_string() }}) as payload

    from orders_to_build as orders
    inner join contacts
        on orders.order_id = contacts.contact_id
        and contacts.is_identifiable
    inner join items
        on orders.order_id = items.order_id
    cross join backfill_window
    where orders.is_counted_in_lifetime_value
        -- older orders are implausible dates: iterable__rejections says so
        and orders.created_at >= cast('{{ var("min_plausible_date") }}' as {{ dbt.type_timestamp() }})

        -- var purchase_backfill_days (default: none, the whole history is sent)
        and (backfill_window.purchase_window_start_at is null
            or orders.created_at >= backfill_window.purchase_window_start_at)

)

-- the buyer's identity is not part of the hash: an email change moves the profile (and
-- the purchases on it) in Iterable, it is no reason to send the purchase again
{{ iterable_desired_select(hashed=ctsync_json_without_keys('payload', ['user'])) }}
