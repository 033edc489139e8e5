-- Desired subscription state per resolved user: a bulkUpdateSubscriptions
-- `updateSubscriptionsRequests[]` item. Iterable overwrites each array it is sent, so:
--   * an array is sent only for kinds that have consent rules;
--   * `iterable`-owned targets are decided once (at the user's first acknowledged
--     subscription update) and then read back from the ledger, so they never change, and an
--     array whose targets are all Iterable-owned is left out after that first update.
with

consent as (

    select * from {{ ref('int_customers__consent') }}

),

identities as (

    select * from {{ ref('int_iterable__identities') }}

),

customers as (

    select * from {{ ref('stg_commercetools__customers') }}

),

ledger as (

    select *
    from {{ source('ctsync', 'sync_ledger') }}
    where object = 'subscriptions'
        and operation = 'upsert'

),

targets as (

    select
        identities.record_key,
        identities.email,
        identities.user_id,
        consent.iterable_kind,
        consent.iterable_id,
        consent.source_of_truth,
        ledger.record_key is not null as was_acknowledged,
        case
            when consent.source_of_truth = 'iterable' and ledger.record_key is not null
                then case consent.iterable_kind
                    when 'email_list'
                        then {{ ctsync_json_array_contains('ledger.payload', '$.emailListIds', 'consent.iterable_id') }}
                    when 'channel'
                        then not {{ ctsync_json_array_contains('ledger.payload', '$.unsubscribedChannelIds', 'consent.iterable_id') }}
                    else not {{ ctsync_json_array_contains('ledger.payload', '$.unsubscribedMessageTypeIds', 'consent.iterable_id') }}
                end
            else consent.is_subscribed
        end as is_subscribed

    from consent
    inner join identities
        on consent.customer_id = identities.customer_id
        and identities.is_resolved
    left join ledger
        on identities.record_key = ledger.record_key

),

per_user as (

    select
        record_key,
        max(email) as email,
        max(user_id) as user_id,
        {%- for kind, field in [('email_list', 'email_list_ids'), ('channel', 'unsubscribed_channel_ids'), ('message_type', 'unsubscribed_message_type_ids')] %}
        case
            when sum(case when iterable_kind = '{{ kind }}' then 1 else 0 end) = 0 then null
            when max(case when was_acknowledged then 1 else 0 end) = 1
                and sum(case when iterable_kind = '{{ kind }}' and source_of_truth <> 'iterable' then 1 else 0 end) = 0
                then null
            else {{ ctsync_json_array_agg_where(
                'iterable_id',
                'iterable_id',
                "iterable_kind = '" ~ kind ~ "' and " ~ ("is_subscribed" if kind == 'email_list' else "not is_subscribed")
            ) }}
        end as {{ field }}{{ "," if not loop.last }}
        {%- endfor %}

    from targets
    group by record_key

),

source_times as (

    select
        identities.record_key,
        max(customers.last_modified_at) as source_updated_at

    from identities
    inner join customers
        on identities.customer_id = customers.customer_id
    where identities.is_resolved
    group by identities.record_key

),

final as (

    select
        cast(per_user.record_key as varchar) as record_key,
        cast({{ ctsync_json_object_absent_on_null(iterable_identity_pairs('per_user.email', 'per_user.user_id') + [
            ['emailListIds', 'per_user.email_list_ids'],
            ['unsubscribedChannelIds', 'per_user.unsubscribed_channel_ids'],
            ['unsubscribedMessageTypeIds', 'per_user.unsubscribed_message_type_ids'],
        ]) }} as varchar) as payload,
        cast(source_times.source_updated_at as timestamp) as source_updated_at

    from per_user
    left join source_times
        on per_user.record_key = source_times.record_key

)

select
    record_key,
    payload,
    cast({{ ctsync_md5('payload') }} as varchar) as payload_hash,
    source_updated_at
from final
