{{ config(materialized='view') }}
-- Records dbt refused to hand to the sync, with the reason: identity conflicts (duplicate
-- email or userId), customers without a usable identity, and orders / open carts whose
-- contact cannot be identified in this project type, and orders dated before var
-- `min_plausible_date` (a clock or import error, not a purchase to market on).
-- A view: nothing in a run reads it (the sync has its own rejections table); analysts,
-- `ctsync status` and audit__record_outcomes read it current. As a table it was rebuilt in
-- full by every incremental build (0.2 s at 100 000 customers, 2.4 s at 1 000 000).
with

user_payloads as (

    select * from {{ ref('int_iterable__user_payloads') }}

),

contacts as (

    select * from {{ ref('int_iterable__contact_identities') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

carts as (

    select * from {{ ref('fct_carts') }}

),

user_deletions as (

    select * from {{ ref('int_iterable__user_deletions') }}

),

user_rejections as (

    select
        'users' as object,
        'customer:' || customer_id as record_key,
        rejection_reason_code as reason_code,
        rejection_detail as reason_detail,
        payload

    from user_payloads
    where not is_resolved

),

purchase_rejections as (

    select
        'purchases' as object,
        orders.order_id as record_key,
        case
            when not contacts.is_identifiable then contacts.rejection_reason_code
            else 'implausible_date'
        end as reason_code,
        'order ' || coalesce(orders.order_number, orders.order_id) || ': ' || case
            when not contacts.is_identifiable then contacts.rejection_detail
            else 'created at ' || cast(orders.created_at as {{ dbt.type_string() }}) || ', before {{ var("min_plausible_date") }}'
        end as reason_detail,
        cast(null as {{ dbt.type_string() }}) as payload

    from orders
    inner join contacts
        on contacts.contact_type = 'order'
        and orders.order_id = contacts.contact_id
    where orders.is_counted_in_lifetime_value
        and (
            (not contacts.is_identifiable and contacts.rejection_reason_code not in ('customer_deleted', 'identity_deleted'))
            or (contacts.is_identifiable and orders.created_at < cast('{{ var("min_plausible_date") }}' as {{ dbt.type_timestamp() }}))
        )

),

cart_rejections as (

    -- anonymous carts without any email are not rejections: nobody to address yet
    select
        'carts' as object,
        'cart:' || carts.cart_id as record_key,
        contacts.rejection_reason_code as reason_code,
        'cart ' || carts.cart_id || ': ' || contacts.rejection_detail as reason_detail,
        cast(null as {{ dbt.type_string() }}) as payload

    from carts
    inner join contacts
        on contacts.contact_type = 'cart'
        and carts.cart_id = contacts.contact_id
    where not contacts.is_identifiable
        and contacts.rejection_reason_code not in ('customer_deleted', 'identity_deleted', 'guest_without_email')
        and carts.is_open_with_items

),

-- a deleted customer's identity that a live customer holds now: the profile is theirs,
-- so the deletion is not sent (the live customer's upsert overwrites our fields on it)
deletion_rejections as (

    select
        'user_deletions' as object,
        record_key,
        'identity_held_by_live_customer' as reason_code,
        'a customer deleted in commercetools had this identity, but a live customer holds it now; '
        || 'the Iterable profile is kept for the live customer' as reason_detail,
        payload

    from user_deletions
    where is_held_by_live_customer

),

final as (

    select * from user_rejections
    union all
    select * from deletion_rejections
    union all
    select * from purchase_rejections
    union all
    select * from cart_rejections

)

select
    cast(object as {{ dbt.type_string() }}) as object,
    cast(record_key as {{ dbt.type_string() }}) as record_key,
    cast(reason_code as {{ dbt.type_string() }}) as reason_code,
    cast(reason_detail as {{ dbt.type_string() }}) as reason_detail,
    cast(payload as {{ dbt.type_string() }}) as payload
from final
