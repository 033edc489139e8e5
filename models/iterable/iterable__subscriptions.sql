-- Desired subscription state per resolved user: a bulkUpdateSubscriptions
-- `updateSubscriptionsRequests[]` item. Iterable overwrites each array it is sent, so:
--   * an array is sent only for kinds that have consent rules;
--   * `iterable`-owned targets are decided once (at the user's first acknowledged
--     subscription update) and then read back from the ledger, so they never change, and an
--     array whose targets are all Iterable-owned is left out after that first update;
--   * payload_hash covers only the commercetools-owned arrays, so leaving an
--     Iterable-owned array out after the first update is not a change to resend.
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
        max(case when was_acknowledged then 1 else 0 end) = 1 as was_acknowledged,
        {%- for kind, field in [('email_list', 'email_list_ids'), ('channel', 'unsubscribed_channel_ids'), ('message_type', 'unsubscribed_message_type_ids')] %}
        sum(case when iterable_kind = '{{ kind }}' then 1 else 0 end) > 0 as has_{{ field }},
        sum(case when iterable_kind = '{{ kind }}' and source_of_truth <> 'iterable' then 1 else 0 end) > 0 as owns_{{ field }},
        {{ ctsync_json_array_agg_where(
            'iterable_id',
            'iterable_id',
            "iterable_kind = '" ~ kind ~ "' and " ~ ("is_subscribed" if kind == 'email_list' else "not is_subscribed")
        ) }} as {{ field }}{{ "," if not loop.last }}
        {%- endfor %}

    from targets
    group by record_key

),

arrays as (

    -- `sent_*`: what goes out now; `owned_*`: the part commercetools owns, which alone
    -- decides whether the record changed (an Iterable-owned array sent once at creation
    -- and left out afterwards is no change)
    select
        record_key,
        email,
        user_id,
        {%- for field in ['email_list_ids', 'unsubscribed_channel_ids', 'unsubscribed_message_type_ids'] %}
        case
            when not has_{{ field }} then null
            when was_acknowledged and not owns_{{ field }} then null
            else {{ field }}
        end as sent_{{ field }},
        case when owns_{{ field }} then {{ field }} end as owned_{{ field }}{{ "," if not loop.last }}
        {%- endfor %}

    from per_user

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
        cast(arrays.record_key as varchar) as record_key,
        cast({{ ctsync_json_object_absent_on_null(iterable_identity_pairs('arrays.email', 'arrays.user_id') + [
            ['emailListIds', 'arrays.sent_email_list_ids'],
            ['unsubscribedChannelIds', 'arrays.sent_unsubscribed_channel_ids'],
            ['unsubscribedMessageTypeIds', 'arrays.sent_unsubscribed_message_type_ids'],
        ]) }} as varchar) as payload,
        cast({{ ctsync_json_object_absent_on_null(iterable_identity_pairs('arrays.email', 'arrays.user_id') + [
            ['emailListIds', 'arrays.owned_email_list_ids'],
            ['unsubscribedChannelIds', 'arrays.owned_unsubscribed_channel_ids'],
            ['unsubscribedMessageTypeIds', 'arrays.owned_unsubscribed_message_type_ids'],
        ]) }} as varchar) as owned_payload,
        cast(source_times.source_updated_at as timestamp) as source_updated_at

    from arrays
    left join source_times
        on arrays.record_key = source_times.record_key

)

select
    record_key,
    payload,
    -- the hash of what commercetools owns (see `arrays`), not of the whole payload
    cast({{ ctsync_md5('owned_payload') }} as varchar) as payload_hash,
    source_updated_at
from final
