{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy='ctsync_replace',
        on_schema_change='fail',
        ctsync_changes='int_iterable__changed_customers',
    )
}}
-- depends_on: {{ ref('int_iterable__changed_customers') }}
-- Incremental: an incremental build rebuilds the rows of int_iterable__changed_customers only.
-- The bulkUpdate `users[]` item for every live customer, resolved or not (the unresolved
-- ones become rejections). Only absolute values: no "days since", no age.
-- Only our fields, only when ours change: a field without a value is left out, unless this
-- project sent it with a value before (ctsync.sync_user_profiles knows the names), when it
-- is sent as null to clear it. Fields other sources write on the profile are never touched.
-- `payload_hash` is the hash of the payload without those nulls: once a clear is acknowledged
-- the field is no longer ours, the null drops out of the payload, and nothing is resent for
-- it. Only the hash is kept (a second copy of every profile took as much room as the payload).
{% set user_fields = [
    ['customerId', 'customers.customer_id'],
    ['customerNumber', iterable_text('customers.customer_number')],
    ['externalId', iterable_text('customers.external_id')],
    ['firstName', iterable_text('customers.first_name')],
    ['lastName', iterable_text('customers.last_name')],
    ['salutation', iterable_text('customers.salutation')],
    ['companyName', iterable_text('customers.company_name')],
    ['birthDate', "case when customers.birth_date >= date '1900-01-01' and customers.birth_date <= cast(customers.created_at as date) then cast(customers.birth_date as varchar) end"],
    ['phoneNumber', iterable_text('customers.phone')],
    ['preferredChannel', 'customers.preferred_channel'],
    ['emailVerified', 'customers.is_email_verified'],
    ['locale', 'customers.locale'],
    ['language', 'customers.language_code'],
    ['country', 'customers.country_code'],
    ['currency', 'customers.currency_code'],
    ['storeKey', 'customers.primary_store_key'],
    ['storeKeys', 'customers.store_keys'],
    ['channel', 'customers.channel_id'],
    ['customerGroup', iterable_text('customers.customer_group_key')],
    ['registeredAt', ctsync_iso8601('customers.created_at')],
    ['emailOptIn', 'customers.is_email_opted_in'],
    ['smsOptIn', 'customers.is_sms_opted_in'] if 'sms' in var('consent_attributes') else ['smsOptIn', 'cast(null as boolean)'],
    ['loyaltyTier', 'customers.loyalty_tier'],
    ['orderCount', 'customers.order_count'],
    ['lifetimeValue', iterable_number('customers.lifetime_value_base_amount')],
    ['lifetimeValueCurrency', 'customers.base_currency_code'],
    ['lifetimeValueByCurrency', ctsync_json('customers.lifetime_value_by_currency_json')],
    ['lifetimeValueIncomplete', 'customers.is_lifetime_value_incomplete'],
    ['averageOrderValue', iterable_number('customers.average_order_value_base_amount')],
    ['firstOrderAt', ctsync_iso8601('customers.first_order_at')],
    ['lastOrderAt', ctsync_iso8601('customers.last_order_at')],
    ['returnedItemCount', 'customers.returned_item_count'],
    ['returnedValue', iterable_number('customers.returned_base_amount')],
    ['topCategory', iterable_text('customers.top_category')],
    ['topCategories', ctsync_json('customers.top_categories_json')],
    ['hasActiveCart', 'customers.has_active_cart'],
] %}
with

customers as (

    select * from {{ ref('dim_customers') }}
    where {{ ctsync_only_changed('customer_id', 'int_iterable__changed_customers') }}

),

identities as (

    select * from {{ ref('int_iterable__identities') }}
    where {{ ctsync_only_changed('customer_id', 'int_iterable__changed_customers') }}

),

-- what this project last wrote for each customer's profile (a customer may have two rows
-- for a moment, the old and the new email's, around an email change)
profiles as (

    select
        customer_id,
        field_names,
        row_number() over (partition by customer_id order by acknowledged_at desc, record_key) as profile_rank

    from {{ source('ctsync', 'sync_user_profiles') }}
    where {{ ctsync_only_changed('customer_id', 'int_iterable__changed_customers') }}

),

data_fields as (

    select
        identities.customer_id,
        identities.record_key,
        identities.email,
        identities.user_id,
        identities.is_resolved,
        identities.rejection_reason_code,
        identities.rejection_detail,
        customers.last_modified_at,
        {{ ctsync_json_object_absent_on_null(user_fields) }} as present_fields,
        {{ iterable_owned_data_fields(user_fields, 'profiles.field_names') }} as owned_fields

    from identities
    inner join customers
        on identities.customer_id = customers.customer_id
    left join profiles
        on identities.customer_id = profiles.customer_id
        and profiles.profile_rank = 1

),

final as (

    select
        customer_id,
        record_key,
        is_resolved,
        rejection_reason_code,
        rejection_detail,
        last_modified_at as source_updated_at,
        email,
        cast({{ ctsync_json_object(iterable_identity_pairs('email', 'user_id') + [
            ['dataFields', ctsync_json('owned_fields')],
        ] + ([['preferUserId', 'true']] if var('iterable_project_type') != 'email' else [])) }} as {{ dbt.type_string() }}) as payload,
        cast({{ dbt.hash('cast(' ~ ctsync_json_object(iterable_identity_pairs('email', 'user_id') + [
            ['dataFields', ctsync_json('present_fields')],
        ] + ([['preferUserId', 'true']] if var('iterable_project_type') != 'email' else [])) ~ ' as ' ~ dbt.type_string() ~ ')') }} as {{ dbt.type_string() }}) as payload_hash

    from data_fields

)

select * from final
