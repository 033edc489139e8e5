{{
    config(
        materialized='incremental',
        unique_key='person_key',
        incremental_strategy='ctsync_changed_rows',
        on_schema_change='fail',
    )
}}
{%- set project_type = var('iterable_project_type') -%}
-- The people consent is decided for (int_consent__decisions), one row each: resolved
-- customers and, in email and hybrid projects, guests and cart owners known by email alone;
-- with the key of their Iterable profile and, in email projects, the email of the profile
-- this project last wrote for them under an email they no longer have (previous_email).
-- Every build decides every person (another person taking an email changes whose profile
-- moves), but only rows that changed are written, stamped `changed_at`
-- (macros/ctsync_incremental.sql): int_consent__changed_people reads whose row changed.
with

identities as (

    select * from {{ ref('int_iterable__identities') }}

),

contacts as (

    select * from {{ ref('int_iterable__contact_identities') }}

),

customers as (

    select * from {{ ref('stg_commercetools__customers') }}

),

profiles as (

    select * from {{ source('ctsync', 'sync_user_profiles') }}

),

registered as (

    select
        identities.record_key as person_key,
        identities.email,
        identities.user_id,
        identities.customer_id,
        false as is_guest,
        customers.last_modified_at as source_updated_at

    from identities
    left join customers
        on identities.customer_id = customers.customer_id
    where identities.is_resolved

),

guests as (

    -- guests and customers without a usable identity who order or keep a cart: Iterable
    -- creates them through trackPurchase / updateCart, so they get consent rows too
    select distinct
        contacts.email as person_key,
        contacts.email,
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        true as is_guest,
        cast(null as {{ dbt.type_timestamp() }}) as source_updated_at

    from contacts
    where contacts.is_identifiable
        and contacts.user_id is null
        and contacts.email is not null
        {%- if project_type == 'userId' %}
        and 1 = 0
        {%- endif %}
        and not exists (
            select 1 from registered
            where registered.email = contacts.email
        )

),

people as (

    select
        *,
        {%- if project_type == 'email' %}
        'email:' || email as iterable_user_key
        {%- else %}
        case
            when user_id is not null then 'userId:' || user_id
            else 'email:' || email
        end as iterable_user_key
        {%- endif %}

    from (
        select * from registered
        union all
        select * from guests
    ) as everyone

),

moved_from as (

    -- email projects: the profile this project last wrote for a customer under an email the
    -- customer no longer has (and nobody else holds now). updateEmail moves it, with its
    -- subscriptions and history, to the new email in the same run, before subscriptions:
    -- what Iterable holds and recorded under the old email are the person's own choices
    select
        person_key,
        previous_email

    from (
        select
            registered.person_key,
            profiles.record_key as previous_email,
            row_number() over (
                partition by registered.person_key
                order by profiles.acknowledged_at desc, profiles.record_key
            ) as recency

        from profiles
        inner join registered
            on profiles.customer_id = registered.customer_id
        where profiles.record_key <> registered.email
            {%- if project_type != 'email' %}
            and 1 = 0
            {%- endif %}
            and not exists (
                select 1 from people as holders
                where holders.email = profiles.record_key
            )
    ) as ranked
    where recency = 1

)

select
    people.*,
    moved_from.previous_email,
    {{ ctsync_clock() }} as changed_at

from people
left join moved_from
    on people.person_key = moved_from.person_key
