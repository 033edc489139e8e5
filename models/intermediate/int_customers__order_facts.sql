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
-- Lifetime value and order history per customer, from orders that were not cancelled.
-- Money is summed per currency (exact) and, converted with the FX seed, in the base currency;
-- a customer with an order in a currency the seed lacks gets null base figures, flagged.
with

orders as (

    select * from {{ ref('int_orders__enriched') }}

),

by_currency as (

    select * from {{ ref('int_customers__lifetime_value_by_currency') }}
    where {{ ctsync_only_changed('customer_id') }}

),

counted_orders as (

    select *
    from orders
    where customer_id is not null
        and is_counted_in_lifetime_value
        and {{ ctsync_only_changed('customer_id') }}

),

currency_maps as (

    select
        customer_id,
        cast({{ ctsync_json_array_agg(
            ctsync_json_object([
                ['currency', 'currency_code'],
                ['amount', 'cast(lifetime_value_amount as double)'],
                ['orders', 'order_count'],
            ]),
            'currency_code'
        ) }} as {{ dbt.type_string() }}) as lifetime_value_by_currency_json

    from by_currency
    group by customer_id

),

totals as (

    select
        customer_id,
        count(*) as order_count,
        count(distinct currency_code) as currency_count,
        sum(total_base_amount) as known_lifetime_value_base_amount,
        sum(case when total_base_amount is null then 1 else 0 end) as orders_without_fx_rate,
        min(created_at) as first_order_at,
        max(created_at) as last_order_at

    from counted_orders
    group by customer_id

),

final as (

    select
        totals.customer_id,
        totals.order_count,
        totals.currency_count,
        -- a sum that silently skipped the orders without an FX rate would be a wrong number:
        -- the base-currency figures are null instead, and flagged
        totals.orders_without_fx_rate > 0 as is_lifetime_value_incomplete,
        case when totals.orders_without_fx_rate = 0
            then cast(totals.known_lifetime_value_base_amount as decimal(18, 2))
        end as lifetime_value_base_amount,
        case when totals.orders_without_fx_rate = 0
            then cast(totals.known_lifetime_value_base_amount / totals.order_count as decimal(18, 2))
        end as average_order_value_base_amount,
        currency_maps.lifetime_value_by_currency_json,
        totals.first_order_at,
        totals.last_order_at

    from totals
    inner join currency_maps
        on totals.customer_id = currency_maps.customer_id

)

select * from final
