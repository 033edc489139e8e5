{{ config(tags=['full_build_only']) }}
-- Order totals and lifetime values reconcile exactly, per currency, to the raw money fields
-- (centAmount / 10^fractionDigits). Any row returned is a currency whose figures drifted.
-- Checks the whole base: full builds run it; a job's selective build does not
-- (app/jobs/selection.py FULL_BUILD_ONLY), its data tests check the rows it rebuilt.
with

raw_orders as (

    {{ ctsync_source('commercetools', 'orders', [
        ['id', 'varchar'],
        ['customer_id', 'varchar'],
        ['order_state', 'varchar'],
        ['total_price__currency_code', 'varchar'],
        ['total_price__cent_amount', 'bigint'],
        ['total_price__fraction_digits', 'bigint'],
    ]) }}

),

raw_totals as (

    select
        total_price__currency_code as currency_code,
        sum({{ ctsync_money('total_price__cent_amount', 'total_price__fraction_digits') }}) as order_total,
        sum(case when customer_id is not null and order_state <> 'Cancelled'
            then {{ ctsync_money('total_price__cent_amount', 'total_price__fraction_digits') }}
            else 0 end) as lifetime_value_total

    from raw_orders
    group by total_price__currency_code

),

modelled_orders as (

    select currency_code, sum(total_amount) as order_total
    from {{ ref('fct_orders') }}
    group by currency_code

),

modelled_lifetime_values as (

    select currency_code, sum(lifetime_value_amount) as lifetime_value_total
    from {{ ref('int_customers__lifetime_value_by_currency') }}
    group by currency_code

)

select
    raw_totals.currency_code,
    raw_totals.order_total as raw_order_total,
    modelled_orders.order_total as modelled_order_total,
    raw_totals.lifetime_value_total as raw_lifetime_value_total,
    modelled_lifetime_values.lifetime_value_total as modelled_lifetime_value_total

from raw_totals
left join modelled_orders
    on raw_totals.currency_code = modelled_orders.currency_code
left join modelled_lifetime_values
    on raw_totals.currency_code = modelled_lifetime_values.currency_code
where modelled_orders.order_total is distinct from raw_totals.order_total
    or coalesce(modelled_lifetime_values.lifetime_value_total, 0) <> raw_totals.lifetime_value_total
