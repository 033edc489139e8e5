{{
    config(
        materialized='incremental',
        unique_key=['customer_id', 'iterable_kind', 'iterable_id'],
        incremental_strategy='ctsync_replace',
        on_schema_change='fail',
    )
}}
-- depends_on: {{ ref('int_changes__customers') }}
-- Incremental: an incremental build rebuilds the rows of int_changes__customers only.
-- Consent per customer and Iterable subscription target (seed iterable_consent_rules).
-- Nobody is subscribed without a recorded opt-in: a flag without an opt-in time is no opt-in,
-- and under var `consent_double_opt_in_attributes` neither is an unconfirmed opt-in
-- (`<attribute>OptInConfirmedAt` unset).
with

customers as (

    select * from {{ ref('stg_commercetools__customers') }}
    where {{ ctsync_only_changed('customer_id') }}

),

consent_rules as (

    select * from {{ ref('iterable_consent_rules') }}

),

consent_states as (

    {%- for attribute in var('consent_attributes') %}

    select
        customer_id,
        '{{ attribute }}' as consent_attribute,
        {{ attribute }}_opt_in as opt_in_flag,
        {{ attribute }}_opt_in_at as opted_in_at,
        {{ attribute }}_opt_out_at as opted_out_at,
        {{ attribute }}_opt_in_confirmed_at as opt_in_confirmed_at,
        {{ 'true' if attribute in var('consent_double_opt_in_attributes') else 'false' }} as needs_confirmation

    from customers
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

joined as (

    select
        consent_states.customer_id,
        consent_states.consent_attribute,
        consent_rules.iterable_kind,
        consent_rules.iterable_id,
        consent_rules.source_of_truth,
        coalesce(consent_states.opt_in_flag, false) as has_opt_in_flag,
        consent_states.opted_in_at,
        consent_states.opted_out_at,
        -- double opt-in: an opt-in waiting for its confirmation is not consent
        (
            coalesce(consent_states.opt_in_flag, false)
            and consent_states.needs_confirmation
            and consent_states.opt_in_confirmed_at is null
        ) as is_pending_double_opt_in,
        (
            coalesce(consent_states.opt_in_flag, false)
            and consent_states.opted_in_at is not null
            and (not consent_states.needs_confirmation or consent_states.opt_in_confirmed_at is not null)
        ) as has_recorded_opt_in

    from consent_states
    inner join consent_rules
        on consent_states.consent_attribute = consent_rules.consent_attribute

),

final as (

    select
        customer_id,
        consent_attribute,
        iterable_kind,
        iterable_id,
        source_of_truth,
        has_opt_in_flag,
        opted_in_at,
        opted_out_at,
        is_pending_double_opt_in,
        has_recorded_opt_in,
        case
            when source_of_truth = 'opt_out_wins'
                then has_recorded_opt_in
                and (opted_out_at is null or opted_in_at > opted_out_at)
            -- `commercetools`, and the initial value of `iterable`-owned targets
            else has_recorded_opt_in
        end as is_subscribed

    from joined

)

select * from final
