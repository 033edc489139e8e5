{{
    config(
        materialized='incremental',
        unique_key='record_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ iterable_carts_keep_owners() }}",
    )
}}
-- depends_on: {{ ref('int_changes__since') }}
{%- set in_base = var('purchase_currency') == 'base' -%}
-- Item prices are in the purchases' currency (var purchase_currency: base or the cart's own;
-- a currency without an FX rate stays as it is), with the currency of the price and the
-- cart's own currency and price in each item's dataFields.
-- Item names: the cart's locale, then its store's languages, then the project's, then any
-- locale with text, and only then the SKU.
-- Desired state of Iterable shopping carts: one updateCart body per user with an open cart
-- (the most recently changed one). Iterable keeps one cart per user, so the record key is
-- the user's key. When the cart is ordered or emptied, the `delete` in iterable__carts_changes
-- tells the sync to send an empty cart.
-- Incremental: the users' latest open carts (iterable_cart_owners, cheap) are found every
-- build; a user's payload (the JSON of every item, the costly part) is built again only when
-- their latest cart, its version (`source_updated_at`, which every cart update moves) or their
-- identity differs from what the table holds, or when int_changes__since says everything
-- changed (products, categories, a store's languages); a user who no longer has an open
-- cart loses their row (post-hook). `cart_id` and `identity_hash` are kept for that
-- comparison.
with

owners as (

    {{ iterable_cart_owners() }}

),

{%- if is_incremental() %}

built as (

    select record_key, cart_id, source_updated_at, identity_hash from {{ this }}

),

rebuilt as (

    select owners.user_key
    from owners
    left join built
        on owners.user_key = built.record_key
    where built.record_key is null
        or built.cart_id <> owners.cart_id
        or built.source_updated_at is distinct from owners.last_modified_at
        or built.identity_hash is distinct from owners.identity_hash
        or ({{ iterable_everything_changed() }})

),

{%- endif %}

cart_lines as (

    select * from {{ ref('stg_commercetools__cart_line_items') }}

),

fx_rates as (

    {{ ctsync_fx_rates_to_base() }}

),

markets as (

    select * from {{ ref('int_stores__markets') }}

),

category_paths as (

    select * from {{ ref('int_products__category_paths') }}

),

items as (

    select
        cart_lines.cart_id,
        {{ ctsync_json_array_agg(
            iterable_commerce_item(
                id='cart_lines.product_id',
                sku='cart_lines.sku',
                name=ctsync_localized_for('cart_lines.product_name_localized', 'owners.locale'),
                name_fallback='cart_lines.product_id',
                category_path='category_paths.category_path',
                line_total='cart_lines.line_total_amount' ~ (' * coalesce(fx_rates.rate, 1)' if in_base else ''),
                quantity='cart_lines.quantity',
                image_url='cart_lines.image_url',
                data_fields=[
                    ['currency', ("case when fx_rates.rate is null then cart_lines.currency_code else '" ~ var('base_currency') ~ "' end") if in_base else 'cart_lines.currency_code'],
                    ['cartCurrency', 'cart_lines.currency_code'],
                    ['cartCurrencyPrice', iterable_number('cart_lines.line_total_amount / nullif(cart_lines.quantity, 0)')],
                ],
            ),
            'cart_lines.line_position'
        ) }} as items

    from cart_lines
    inner join owners
        on cart_lines.cart_id = owners.cart_id
        {%- if is_incremental() %}
        and owners.user_key in (select user_key from rebuilt)
        {%- endif %}
    left join markets
        on owners.store_key = markets.store_key
    left join category_paths
        on cart_lines.product_id = category_paths.product_id
    left join fx_rates
        on cart_lines.currency_code = fx_rates.currency_code
    group by cart_lines.cart_id

),

final as (

    select
        owners.user_key as record_key,
        owners.last_modified_at as source_updated_at,
        cast({{ ctsync_json_object([
            ['user', iterable_user_object('owners.email', 'owners.user_id')],
            ['items', 'items.items'],
        ]) }} as {{ dbt.type_string() }}) as payload,
        owners.cart_id,
        owners.identity_hash

    from owners
    inner join items
        on owners.cart_id = items.cart_id

)

{{ iterable_desired_select(extra=['cart_id', 'identity_hash']) }}
