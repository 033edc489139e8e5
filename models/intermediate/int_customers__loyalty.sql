{%- set known_tiers = var('loyalty_tiers') | map(attribute='tier') | list %}
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
-- Loyalty tier: the customer's `loyaltyTier` custom field when it names a configured tier,
-- otherwise the highest tier (var `loyalty_tiers`) whose lifetime-value threshold the
-- customer reaches. An unknown custom value (source data) is ignored, not a build failure.
with

customers as (

    select * from {{ ref('stg_commercetools__customers') }}
    where {{ ctsync_only_changed('customer_id') }}

),

order_facts as (

    select * from {{ ref('int_customers__order_facts') }}

),

final as (

    select
        customers.customer_id,
        coalesce(order_facts.lifetime_value_base_amount, 0) as lifetime_value_base_amount,
        customers.loyalty_tier_custom,
        case
        {%- for tier in var('loyalty_tiers') | sort(attribute='min_lifetime_value', reverse=true) %}
            when coalesce(order_facts.lifetime_value_base_amount, 0) >= {{ tier['min_lifetime_value'] }} then '{{ tier["tier"] }}'
        {%- endfor %}
        end as loyalty_tier_computed,
        coalesce(
            case when customers.loyalty_tier_custom in ({% for tier in known_tiers %}'{{ tier }}'{{ ', ' if not loop.last }}{% endfor %})
                then customers.loyalty_tier_custom end,
            case
            {%- for tier in var('loyalty_tiers') | sort(attribute='min_lifetime_value', reverse=true) %}
                when coalesce(order_facts.lifetime_value_base_amount, 0) >= {{ tier['min_lifetime_value'] }} then '{{ tier["tier"] }}'
            {%- endfor %}
            end
        ) as loyalty_tier,
        case
            when customers.loyalty_tier_custom in ({% for tier in known_tiers %}'{{ tier }}'{{ ', ' if not loop.last }}{% endfor %}) then 'custom_field'
            else 'lifetime_value'
        end as loyalty_tier_source

    from customers
    left join order_facts
        on customers.customer_id = order_facts.customer_id

)

select * from final
