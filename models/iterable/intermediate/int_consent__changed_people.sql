{{ config(materialized='table', tags=['ctsync_changes']) }}
-- The people (`person_key`) whose consent decisions int_consent__decisions rebuilds in an
-- incremental build: those whose inputs may have changed since the last dbt build that
-- succeeded (int_changes__since):
--   * their row of int_consent__people changed or is new (`changed_at`: identity, profile
--     moved to them, guest or registered);
--   * their customer changed (int_iterable__changed_customers: the consent flags);
--   * Iterable events read since that name them (by userId, email or the email of the
--     profile that moves to them);
--   * Iterable's state of their profile (or of the one that moves to them) read since;
--   * ctsync wrote their profile or a group since (ledger), or tried a group (changelog: an
--     echo to explain);
--   * everyone when int_changes__since says everything changed.
-- People no longer there lose their rows in int_consent__decisions' post-hook; a change of
-- the subscription groups (rules, message type policies) rebuilds everyone there.
with

people as (

    select * from {{ ref('int_consent__people') }}

),

changed_customers as (

    select * from {{ ref('int_iterable__changed_customers') }}

),

since as (

    select * from {{ ref('int_changes__since') }}

),

rules as (

    select * from {{ ref('iterable_consent_rules') }}

),

iterable_users as (

    select * from {{ ref('stg_iterable__users') }}

),

iterable_events as (

    select * from {{ ref('stg_iterable__consent_events') }}

),

ledger as (

    select *
    from {{ source('ctsync', 'sync_ledger') }}
    where object in ('subscriptions', 'users')

),

changelog as (

    select *
    from {{ source('ctsync', 'sync_changelog') }}
    where object = 'subscriptions'

),

events_since as (

    select iterable_events.*
    from iterable_events
    cross join since
    where iterable_events.loaded_at > since.changed_at

),

read_back_since as (

    select iterable_users.*
    from iterable_users
    cross join since
    where iterable_users.loaded_at > since.changed_at

),

written_since as (

    select ledger.object, ledger.record_key
    from ledger
    cross join since
    where ledger.acknowledged_at > since.changed_at

    union

    select changelog.object, changelog.record_key
    from changelog
    cross join since
    where changelog.attempted_at > since.changed_at

),

group_suffixes as (

    -- a subscription's record_key is `<person_key>:<iterable_kind>:<iterable_id>`
    select distinct
        ':' || iterable_kind || ':' || cast(iterable_id as {{ dbt.type_string() }}) as suffix
    from rules

),

changed as (

    select people.person_key
    from people
    cross join since
    where people.changed_at > since.stamped_at

    union

    select people.person_key
    from people
    inner join changed_customers
        on people.customer_id = changed_customers.customer_id

    union

    select people.person_key
    from events_since
    inner join people
        on events_since.user_id = people.user_id

    union

    select people.person_key
    from events_since
    inner join people
        on events_since.email = people.email

    union

    select people.person_key
    from events_since
    inner join people
        on events_since.email = people.previous_email

    union

    select people.person_key
    from read_back_since
    inner join people
        on read_back_since.iterable_user_key = people.iterable_user_key

    union

    select people.person_key
    from read_back_since
    inner join people
        on read_back_since.iterable_user_key = 'email:' || people.previous_email

    union

    select record_key as person_key
    from written_since
    where object = 'users'

    union

    select substring(
        written_since.record_key, 1,
        {{ dbt.length('written_since.record_key') }} - {{ dbt.length('group_suffixes.suffix') }}
    ) as person_key
    from written_since
    inner join group_suffixes
        on {{ dbt.right('written_since.record_key', dbt.length('group_suffixes.suffix')) }} = group_suffixes.suffix
    where written_since.object = 'subscriptions'

),

final as (

    select changed.person_key
    from changed
    cross join since
    where not since.is_everything

    union

    select people.person_key
    from people
    cross join since
    where since.is_everything

)

select person_key from final
where person_key is not null
