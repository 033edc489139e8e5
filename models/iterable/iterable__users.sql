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
-- Desired state of Iterable users: one bulkUpdate `users[]` item per resolved customer.
-- payload_hash covers the payload without the nulls that clear fields we set before
-- (int_iterable__user_payloads), so a cleared field does not cause a resend once cleared.
with

user_payloads as (

    select * from {{ ref('int_iterable__user_payloads') }}

),

final as (

    select
        cast(record_key as {{ dbt.type_string() }}) as record_key,
        cast(payload as {{ dbt.type_string() }}) as payload,
        cast(payload_hash as {{ dbt.type_string() }}) as payload_hash,
        cast(source_updated_at as {{ dbt.type_timestamp() }}) as source_updated_at,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast({{ dbt.hash('email') }} as {{ dbt.type_string() }}) as email_hash

    from user_payloads
    where is_resolved
        and {{ ctsync_only_changed('customer_id', 'int_iterable__changed_customers') }}

)

select * from final
