{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy='ctsync_replace',
        on_schema_change='fail',
    )
}}
-- depends_on: {{ ref('int_changes__customers') }}
-- Incremental: an incremental build rebuilds the rows of int_changes__customers only.
-- Market context per customer: the first store they belong to, else the store of their latest
-- order; country from the default shipping address, else the store's.
with

customers as (

    select * from {{ ref('stg_commercetools__customers') }}
    where {{ ctsync_only_changed('customer_id') }}

),

customer_stores as (

    select * from {{ ref('stg_commercetools__customer_stores') }}

),

customer_addresses as (

    select * from {{ ref('stg_commercetools__customer_addresses') }}

),

markets as (

    select * from {{ ref('int_stores__markets') }}

),

orders as (

    select * from {{ ref('stg_commercetools__orders') }}

),

first_stores as (

    select
        customer_id,
        store_key

    from customer_stores
    where store_position = 0

),

latest_orders as (

    select
        customer_id,
        store_key,
        currency_code,
        row_number() over (partition by customer_id order by created_at desc, order_id) as order_rank

    from orders
    where customer_id is not null
        and {{ ctsync_only_changed('customer_id') }}

),

final as (

    select
        customers.customer_id,
        coalesce(first_stores.store_key, latest_orders.store_key) as store_key,
        coalesce(shipping_addresses.country_code, markets.country_code) as country_code,
        coalesce(markets.currency_code, latest_orders.currency_code, '{{ var("base_currency") }}') as currency_code,
        coalesce(customers.locale, markets.locale, '{{ var("default_locale") }}') as locale,
        {{ ctsync_language_code("coalesce(customers.locale, markets.locale, '" ~ var('default_locale') ~ "')") }} as language_code,
        markets.channel_id

    from customers
    left join first_stores
        on customers.customer_id = first_stores.customer_id
    left join latest_orders
        on customers.customer_id = latest_orders.customer_id
        and latest_orders.order_rank = 1
    left join markets
        on coalesce(first_stores.store_key, latest_orders.store_key) = markets.store_key
    left join customer_addresses as shipping_addresses
        on customers.customer_id = shipping_addresses.customer_id
        and customers.default_shipping_address_id = shipping_addresses.address_id

)

select * from final
