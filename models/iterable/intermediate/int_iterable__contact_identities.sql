{{
    config(
        materialized='incremental',
        unique_key='contact_key',
        incremental_strategy='ctsync_changed_rows',
        on_schema_change='fail',
    )
}}
{%- set project_type = var('iterable_project_type') -%}
-- The Iterable user an order or a cart belongs to. Registered customers use their resolved
-- identity; guests (and customers who lost an identity conflict) are identified by email
-- where the project type allows it, and are otherwise not identifiable, with a reason.
-- Contacts of customers deleted in commercetools are never sent; contacts of customers that
-- do not exist (orphans) are quarantined with reason `customer_missing`.
-- Every build decides every contact (a deletion or an email change moves guests' too), but
-- only rows that changed are written, stamped `changed_at` (macros/ctsync_incremental.sql).
with

orders as (

    select * from {{ ref('fct_orders') }}

),

carts as (

    select * from {{ ref('fct_carts') }}

),

identities as (

    select * from {{ ref('int_iterable__identities') }}

),

deleted_customers as (

    select * from {{ ref('int_customers__deleted') }}

),

deleted_identities as (

    select distinct deleted_customers.email_normalized as email

    from deleted_customers
    left join identities
        on deleted_customers.email_normalized = identities.email
        and identities.is_resolved
    where deleted_customers.email_normalized is not null
        and identities.customer_id is null

),

contacts as (

    select
        'order' as contact_type,
        order_id as contact_id,
        customer_id,
        customer_email_normalized

    from orders

    union all

    select
        'cart' as contact_type,
        cart_id as contact_id,
        customer_id,
        customer_email_normalized

    from carts

),

joined as (

    select
        contacts.contact_type,
        contacts.contact_id,
        contacts.customer_id,
        contacts.customer_email_normalized,
        identities.is_resolved,
        identities.email as identity_email,
        identities.user_id as identity_user_id,
        deleted_customers.customer_id is not null as is_deleted_customer,
        deleted_identities.email is not null as is_deleted_identity,
        -- an order or cart pointing at a customer commercetools no longer has (and never told
        -- us it deleted: Messages off, or data imported without its customer) is quarantined,
        -- never sent by its email: that could re-create a person who is gone
        contacts.customer_id is not null
            and identities.customer_id is null
            and deleted_customers.customer_id is null as is_missing_customer,
        contacts.customer_email_normalized is not null
            and contacts.customer_email_normalized like '%_@_%' as has_usable_email

    from contacts
    left join identities
        on contacts.customer_id = identities.customer_id
    left join deleted_customers
        on contacts.customer_id = deleted_customers.customer_id
    left join deleted_identities
        on contacts.customer_email_normalized = deleted_identities.email

),

final as (

    select
        contact_type || ':' || contact_id as contact_key,
        contact_type,
        contact_id,
        customer_id,
        case
            when is_resolved then identity_email
            {%- if project_type != 'userId' %}
            when has_usable_email then customer_email_normalized
            {%- endif %}
        end as email,
        case when is_resolved then identity_user_id end as user_id,
        case
            when is_deleted_customer then 'customer_deleted'
            when is_missing_customer then 'customer_missing'
            when is_resolved then null
            {%- if project_type != 'userId' %}
            when has_usable_email and is_deleted_identity then 'identity_deleted'
            when has_usable_email then null
            when customer_id is null then 'guest_without_email'
            {%- else %}
            when customer_id is null then 'guest_without_user_id'
            {%- endif %}
            else 'customer_identity_rejected'
        end as rejection_reason_code,
        case
            when is_deleted_customer then 'customer ' || customer_id || ' was deleted in commercetools'
            when is_missing_customer
                then 'customer ' || customer_id || ' does not exist in commercetools (orphan ' || contact_type || ')'
            when is_resolved then null
            {%- if project_type != 'userId' %}
            when has_usable_email and is_deleted_identity
                then 'the email belongs to a customer deleted in commercetools; sending would re-create the Iterable profile'
            when has_usable_email then null
            when customer_id is null then 'guest ' || contact_type || ' has no usable email address'
            {%- else %}
            when customer_id is null
                then 'guest ' || contact_type || ' has no userId and a userId-based Iterable project cannot identify it by email'
            {%- endif %}
            else 'customer ' || customer_id || ' has no usable Iterable identity (see its users rejection)'
        end as rejection_detail

    from joined

)

select
    *,
    rejection_reason_code is null as is_identifiable,
    {{ ctsync_clock() }} as changed_at
from final
