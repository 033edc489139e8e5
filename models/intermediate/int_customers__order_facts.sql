-- Lifetime value and order history per customer, from orders that were not cancelled.
-- Money is summed per currency (exact) and, converted with the FX seed, in the base currency.
with

orders as (

    select * from {{ ref('fct_orders') }}

),

by_currency as (

    select * from {{ ref('int_customers__lifetime_value_by_currency') }}

),

counted_orders as (

    select *
    from orders
    where customer_id is not null
        and is_counted_in_lifetime_value

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
        ) }} as varchar) as lifetime_value_by_currency_json

    from by_currency
    group by customer_id

),

totals as (

    select
        customer_id,
        count(*) as order_count,
        count(distinct currency_code) as currency_count,
        sum(total_base_amount) as lifetime_value_base_amount,
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
        cast(totals.lifetime_value_base_amount as decimal(18, 2)) as lifetime_value_base_amount,
        cast(totals.lifetime_value_base_amount / totals.order_count as decimal(18, 2)) as average_order_value_base_amount,
        currency_maps.lifetime_value_by_currency_json,
        totals.first_order_at,
        totals.last_order_at

    from totals
    inner join currency_maps
        on totals.customer_id = currency_maps.customer_id

)

select * from final
