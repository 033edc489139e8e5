{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy='ctsync_replace',
        on_schema_change='fail',
        post_hook="{{ dim_customers_refresh_clock_columns() }}",
    )
}}
-- depends_on: {{ ref('int_changes__customers') }}
-- Incremental: an incremental build rebuilds the rows of int_changes__customers only, then
-- brings every row's clock-relative `days_since_last_order` to now (a post-hook).
with

customers as (

    select * from {{ ref('stg_commercetools__customers') }}
    where {{ ctsync_only_changed('customer_id') }}

),

customer_groups as (

    select * from {{ ref('stg_commercetools__customer_groups') }}

),

customer_stores as (

    select * from {{ ref('stg_commercetools__customer_stores') }}

),

markets as (

    select * from {{ ref('int_customers__market') }}

),

order_facts as (

    select * from {{ ref('int_customers__order_facts') }}

),

affinity as (

    select * from {{ ref('int_customers__category_affinity') }}

),

returns as (

    select * from {{ ref('int_customers__returns') }}

),

loyalty as (

    select * from {{ ref('int_customers__loyalty') }}

),

consent as (

    select * from {{ ref('int_customers__consent') }}

),

carts as (

    select * from {{ ref('int_carts__enriched') }}

),

deleted_customers as (

    select * from {{ ref('int_customers__deleted') }}

),

store_lists as (

    select
        customer_id,
        {{ dbt.listagg('store_key', "','", 'order by store_position') }} as store_keys

    from customer_stores
    where {{ ctsync_only_changed('customer_id') }}
    group by customer_id

),

consent_flags as (

    -- per attribute: the commercetools-side answer (a recorded opt-in, not withdrawn later)
    select
        customer_id,
        {%- for attribute in var('consent_attributes') %}
        max(case when consent_attribute = '{{ attribute }}' and has_recorded_opt_in
            and (opted_out_at is null or opted_in_at > opted_out_at) then 1 else 0 end) = 1
            as is_{{ attribute }}_opted_in{{ "," if not loop.last }}
        {%- endfor %}

    from consent
    where {{ ctsync_only_changed('customer_id') }}
    group by customer_id

),

cart_flags as (

    select
        customer_id,
        max(case when is_open_with_items then 1 else 0 end) = 1 as has_active_cart,
        max(case when is_abandoned then 1 else 0 end) = 1 as has_abandoned_cart

    from carts
    where customer_id is not null
        and {{ ctsync_only_changed('customer_id') }}
    group by customer_id

),

final as (

    select
        customers.customer_id,
        customers.customer_number,
        customers.customer_key,
        customers.external_id,
        customers.email,
        customers.email_normalized,
        customers.is_email_verified,
        customers.first_name,
        customers.middle_name,
        customers.last_name,
        customers.salutation,
        customers.title,
        customers.company_name,
        customers.birth_date,
        customers.phone,
        customers.preferred_channel,
        customers.locale,
        markets.language_code,
        markets.country_code,
        markets.currency_code,
        markets.store_key as primary_store_key,
        markets.channel_id,
        store_lists.store_keys,
        customers.customer_group_id,
        customer_groups.customer_group_key,
        customer_groups.customer_group_name,
        {%- for attribute in var('consent_attributes') %}
        customers.{{ attribute }}_opt_in_at,
        customers.{{ attribute }}_opt_out_at,
        coalesce(consent_flags.is_{{ attribute }}_opted_in, false) as is_{{ attribute }}_opted_in,
        {%- endfor %}
        coalesce(order_facts.order_count, 0) as order_count,
        case when not coalesce(order_facts.is_lifetime_value_incomplete, false)
            then coalesce(order_facts.lifetime_value_base_amount, 0)
        end as lifetime_value_base_amount,
        coalesce(order_facts.is_lifetime_value_incomplete, false) as is_lifetime_value_incomplete,
        '{{ var("base_currency") }}' as base_currency_code,
        coalesce(order_facts.lifetime_value_by_currency_json, '[]') as lifetime_value_by_currency_json,
        order_facts.average_order_value_base_amount,
        order_facts.first_order_at,
        order_facts.last_order_at,
        -- clock-relative: for analysts only, never in an Iterable payload
        {{ dbt.datediff('order_facts.last_order_at', ctsync_now(), 'day') }} as days_since_last_order,
        coalesce(returns.returned_item_count, 0) as returned_item_count,
        coalesce(returns.returned_units, 0) as returned_units,
        case when returns.customer_id is null then 0 else returns.returned_base_amount end as returned_base_amount,
        affinity.top_category,
        coalesce(affinity.top_categories_json, '[]') as top_categories_json,
        loyalty.loyalty_tier,
        loyalty.loyalty_tier_source,
        coalesce(cart_flags.has_active_cart, false) as has_active_cart,
        coalesce(cart_flags.has_abandoned_cart, false) as has_abandoned_cart,
        deleted_customers.customer_id is not null as is_deleted,
        customers.created_at,
        customers.last_modified_at

    from customers
    left join customer_groups
        on customers.customer_group_id = customer_groups.customer_group_id
    left join store_lists
        on customers.customer_id = store_lists.customer_id
    left join markets
        on customers.customer_id = markets.customer_id
    left join order_facts
        on customers.customer_id = order_facts.customer_id
    left join affinity
        on customers.customer_id = affinity.customer_id
    left join returns
        on customers.customer_id = returns.customer_id
    left join loyalty
        on customers.customer_id = loyalty.customer_id
    left join consent_flags
        on customers.customer_id = consent_flags.customer_id
    left join cart_flags
        on customers.customer_id = cart_flags.customer_id
    left join deleted_customers
        on customers.customer_id = deleted_customers.customer_id

)

select * from final
