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
with

carts as (

    select * from {{ ref('fct_carts') }}

),

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

contacts as (

    select * from {{ ref('int_iterable__contact_identities') }}
    where contact_type = 'cart'

),

open_carts as (

    select
        carts.*,
        contacts.email,
        contacts.user_id,
        coalesce(contacts.user_id, contacts.email) as user_key,
        row_number() over (
            partition by coalesce(contacts.user_id, contacts.email)
            order by carts.last_modified_at desc, carts.cart_id
        ) as cart_rank

    from carts
    inner join contacts
        on carts.cart_id = contacts.contact_id
        and contacts.is_identifiable
    where carts.is_open_with_items

),

items as (

    select
        cart_lines.cart_id,
        {{ ctsync_json_array_agg(
            iterable_commerce_item(
                id='cart_lines.product_id',
                sku='cart_lines.sku',
                name=ctsync_localized_for('cart_lines.product_name_localized', 'open_carts.locale'),
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
    inner join open_carts
        on cart_lines.cart_id = open_carts.cart_id
        and open_carts.cart_rank = 1
    left join markets
        on open_carts.store_key = markets.store_key
    left join category_paths
        on cart_lines.product_id = category_paths.product_id
    left join fx_rates
        on cart_lines.currency_code = fx_rates.currency_code
    group by cart_lines.cart_id

),

final as (

    select
        open_carts.user_key as record_key,
        open_carts.last_modified_at as source_updated_at,
        cast({{ ctsync_json_object([
            ['user', iterable_user_object('open_carts.email', 'open_carts.user_id')],
            ['items', 'items.items'],
        ]) }} as {{ dbt.type_string() }}) as payload

    from open_carts
    inner join items
        on open_carts.cart_id = items.cart_id
    where open_carts.cart_rank = 1

)

{{ iterable_desired_select() }}
