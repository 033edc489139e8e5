{{
    config(
        materialized='incremental',
        unique_key=['customer_id', 'currency_code'],
        incremental_strategy='ctsync_replace',
        on_schema_change='fail',
    )
}}
-- depends_on: {{ ref('int_changes__customers') }}
-- Incremental: an incremental build rebuilds the rows of int_changes__customers only.
-- Lifetime value per customer and currency, exact: the sum of the totals of orders that
-- were not cancelled, in the order currency (no conversion, no rounding).
with

orders as (

    select * from {{ ref('int_orders__enriched') }}

),

final as (

    select
        customer_id,
        currency_code,
        count(*) as order_count,
        sum(total_amount) as lifetime_value_amount,
        min(created_at) as first_order_at,
        max(created_at) as last_order_at

    from orders
    where customer_id is not null
        and is_counted_in_lifetime_value
        and {{ ctsync_only_changed('customer_id') }}
    group by customer_id, currency_code

)

select * from final
