{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy='ctsync_changed_rows',
        on_schema_change='fail',
    )
}}
{%- set project_type = var('iterable_project_type') -%}
{%- set user_id_field = var('iterable_user_id_field') -%}
{%- if project_type not in ['email', 'userId', 'hybrid'] -%}
    {{ exceptions.raise_compiler_error("var iterable_project_type must be email, userId or hybrid, got '" ~ project_type ~ "'") }}
{%- endif -%}
{%- if user_id_field not in ['customer_id', 'customer_number', 'external_id'] -%}
    {{ exceptions.raise_compiler_error("var iterable_user_id_field must be customer_id, customer_number or external_id, got '" ~ user_id_field ~ "'") }}
{%- endif -%}
-- How each live customer is identified in Iterable, per the project type:
--   email  -> by email (unique); userId -> by userId (unique); hybrid -> both, each unique.
-- When two customers claim one unique identity, the winner is deterministic (verified email
-- first, then the oldest account, then the smallest id); the others are rejected with a reason.
-- Every build decides every identity (one customer's email change may move another's), but
-- only rows that changed are written, stamped `changed_at` (macros/ctsync_incremental.sql):
-- the models that rebuild only what changed read whose identity changed since.
with

customers as (

    select * from {{ ref('stg_commercetools__customers') }}

),

deleted_customers as (

    select * from {{ ref('int_customers__deleted') }}

),

live_customers as (

    select
        customers.customer_id,
        customers.email_normalized,
        nullif(trim(cast(customers.{{ user_id_field }} as {{ dbt.type_string() }})), '') as user_id,
        customers.is_email_verified,
        customers.created_at

    from customers
    left join deleted_customers
        on customers.customer_id = deleted_customers.customer_id
    where deleted_customers.customer_id is null

),

ranked as (

    select
        *,
        row_number() over (
            partition by email_normalized
            order by is_email_verified desc, created_at, customer_id
        ) as email_rank,
        count(*) over (partition by email_normalized) as email_claims,
        first_value(customer_id) over (
            partition by email_normalized
            order by is_email_verified desc, created_at, customer_id
        ) as email_winner_customer_id,
        row_number() over (
            partition by user_id
            order by is_email_verified desc, created_at, customer_id
        ) as user_id_rank,
        first_value(customer_id) over (
            partition by user_id
            order by is_email_verified desc, created_at, customer_id
        ) as user_id_winner_customer_id

    from live_customers

),

resolved as (

    select
        customer_id,
        email_normalized,
        user_id,
        case
        {%- if project_type in ['email', 'hybrid'] %}
            when email_normalized is null or email_normalized not like '%_@_%'
                then 'invalid_email'
            when email_rank > 1
                then 'duplicate_email'
        {%- endif %}
        {%- if project_type in ['userId', 'hybrid'] %}
            when user_id is null
                then 'missing_user_id'
            when user_id_rank > 1
                then 'duplicate_user_id'
        {%- endif %}
        end as rejection_reason_code,
        case
        {%- if project_type in ['email', 'hybrid'] %}
            when email_normalized is null or email_normalized not like '%_@_%'
                then 'customer has no usable email address'
            when email_rank > 1
                then 'email ' || email_normalized || ' belongs to ' || cast(email_claims as {{ dbt.type_string() }})
                || ' customers; customer ' || email_winner_customer_id || ' wins (verified email, then oldest account)'
        {%- endif %}
        {%- if project_type in ['userId', 'hybrid'] %}
            when user_id is null
                then 'customer has no {{ user_id_field }} to use as Iterable userId'
            when user_id_rank > 1
                then 'userId ' || user_id || ' is claimed by customer ' || user_id_winner_customer_id
                || ' (verified email, then oldest account)'
        {%- endif %}
        end as rejection_detail

    from ranked

),

final as (

    select
        customer_id,
        email_normalized as email,
        {%- if project_type == 'email' %}
        cast(null as {{ dbt.type_string() }}) as user_id,
        email_normalized as record_key,
        {%- elif project_type == 'userId' %}
        user_id,
        user_id as record_key,
        {%- else %}
        user_id,
        -- hybrid: userId is the stable key (emails change); both are sent
        user_id as record_key,
        {%- endif %}
        rejection_reason_code is null as is_resolved,
        rejection_reason_code,
        rejection_detail,
        {{ ctsync_clock() }} as changed_at

    from resolved

)

select * from final
