-- The bulkUpdate `users[]` item for every live customer, resolved or not (the unresolved
-- ones become rejections). Only absolute values: no "days since", no age.
with

customers as (

    select * from {{ ref('dim_customers') }}

),

identities as (

    select * from {{ ref('int_iterable__identities') }}

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
        {{ ctsync_json_object([
            ['customerId', 'customers.customer_id'],
            ['customerNumber', 'customers.customer_number'],
            ['externalId', 'customers.external_id'],
            ['firstName', iterable_text('customers.first_name')],
            ['lastName', iterable_text('customers.last_name')],
            ['salutation', iterable_text('customers.salutation')],
            ['companyName', iterable_text('customers.company_name')],
            ['birthDate', "case when customers.birth_date >= date '1900-01-01' and customers.birth_date <= cast(customers.created_at as date) then cast(customers.birth_date as varchar) end"],
            ['phoneNumber', 'customers.phone'],
            ['preferredChannel', 'customers.preferred_channel'],
            ['emailVerified', 'customers.is_email_verified'],
            ['locale', 'customers.locale'],
            ['language', 'customers.language_code'],
            ['country', 'customers.country_code'],
            ['currency', 'customers.currency_code'],
            ['storeKey', 'customers.primary_store_key'],
            ['storeKeys', 'customers.store_keys'],
            ['channel', 'customers.channel_id'],
            ['customerGroup', 'customers.customer_group_key'],
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
            ['topCategory', 'customers.top_category'],
            ['topCategories', ctsync_json('customers.top_categories_json')],
            ['hasActiveCart', 'customers.has_active_cart'],
        ]) }} as data_fields

    from identities
    inner join customers
        on identities.customer_id = customers.customer_id

),

final as (

    select
        customer_id,
        record_key,
        is_resolved,
        rejection_reason_code,
        rejection_detail,
        last_modified_at as source_updated_at,
        cast({{ ctsync_json_object(iterable_identity_pairs('email', 'user_id') + [
            ['dataFields', 'data_fields'],
        ] + ([['preferUserId', 'true']] if var('iterable_project_type') != 'email' else [])) }} as varchar) as payload

    from data_fields

)

select * from final
