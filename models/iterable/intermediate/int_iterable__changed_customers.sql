{{ config(materialized='table', tags=['ctsync_changes']) }}
-- The customers whose Iterable-layer rows may differ from what the last dbt build that
-- succeeded made of them: those of int_changes__customers, those whose identity changed
-- since (int_iterable__identities stamps a changed row: another customer's email change may
-- move a duplicate's identity), and those whose profile the sync wrote since (the fields
-- ctsync owns on it). Read by the Iterable models that rebuild only what changed.
with

changed_customers as (

    select * from {{ ref('int_changes__customers') }}

),

since as (

    select * from {{ ref('int_changes__since') }}

),

identities as (

    select * from {{ ref('int_iterable__identities') }}

),

profiles as (

    select * from {{ source('ctsync', 'sync_user_profiles') }}

),

final as (

    select customer_id from changed_customers

    union

    select identities.customer_id
    from identities
    cross join since
    where identities.changed_at > since.stamped_at

    union

    select profiles.customer_id
    from profiles
    cross join since
    where profiles.acknowledged_at > since.changed_at

)

select customer_id from final
where customer_id is not null
