-- Desired state of Iterable users: one bulkUpdate `users[]` item per resolved customer.
with

user_payloads as (

    select * from {{ ref('int_iterable__user_payloads') }}

),

final as (

    select
        cast(record_key as varchar) as record_key,
        cast(payload as varchar) as payload,
        cast({{ ctsync_md5('payload') }} as varchar) as payload_hash,
        cast(source_updated_at as timestamp) as source_updated_at

    from user_payloads
    where is_resolved

)

select * from final
