-- Subscription writes: one row per person and subscription group whose decided state
-- (int_consent__decisions) differs from what Iterable holds. Groups no rule covers never
-- appear, and an unchanged group is never written (docs/CONTRACTS.md §4a).
--
-- payload: the identity plus `subscriptionGroup` (emailList | messageChannel | messageType),
-- `subscriptionGroupId` and `action` (subscribe | unsubscribe), sent through the group's own
-- endpoint. A person Iterable does not hold yet (`create`) is created with all their
-- decided groups at once in one bulkUpdateSubscriptions item (`arrays`): a profile that did
-- not exist has nothing to overwrite, and empty arrays are left out.
-- payload_hash also covers the time of the choice that decided the row, so a new choice
-- that leads to the same write as an earlier one is sent again, and the time of a read-back
-- newer than ctsync's last write of the group (Iterable was changed back since).
with

decisions as (

    select * from {{ ref('int_consent__decisions') }}

),

writes as (

    select
        *,
        case when is_subscribed then 'subscribe' else 'unsubscribe' end as action

    from decisions
    where needs_write

),

creations as (

    select
        person_key,
        {{ ctsync_json_array_agg_where('iterable_id', 'iterable_id', "iterable_kind = 'email_list' and is_subscribed") }} as email_list_ids,
        {{ ctsync_json_array_agg_where('iterable_id', 'iterable_id', "iterable_kind = 'channel' and not is_subscribed") }} as unsubscribed_channel_ids,
        {{ ctsync_json_array_agg_where('iterable_id', 'iterable_id', "iterable_kind = 'message_type' and subscription_policy <> 'OptIn' and not is_subscribed") }} as unsubscribed_message_type_ids,
        {{ ctsync_json_array_agg_where('iterable_id', 'iterable_id', "iterable_kind = 'message_type' and subscription_policy = 'OptIn' and is_subscribed") }} as subscribed_message_type_ids

    from writes
    where is_new_to_iterable
    group by person_key

),

payloads as (

    select
        writes.record_key,
        cast({{ ctsync_json_object_absent_on_null(iterable_identity_pairs('writes.email', 'writes.user_id') + [
            ['subscriptionGroup', 'writes.subscription_group'],
            ['subscriptionGroupId', 'writes.iterable_id'],
            ['action', 'writes.action'],
            ['create', 'case when writes.is_new_to_iterable then true end'],
            ['arrays', 'case when writes.is_new_to_iterable then ' ~ ctsync_json_object_absent_on_null([
                ['emailListIds', "case when cast(creations.email_list_ids as varchar) <> '[]' then creations.email_list_ids end"],
                ['unsubscribedChannelIds', "case when cast(creations.unsubscribed_channel_ids as varchar) <> '[]' then creations.unsubscribed_channel_ids end"],
                ['unsubscribedMessageTypeIds', "case when cast(creations.unsubscribed_message_type_ids as varchar) <> '[]' then creations.unsubscribed_message_type_ids end"],
                ['subscribedMessageTypeIds', "case when cast(creations.subscribed_message_type_ids as varchar) <> '[]' then creations.subscribed_message_type_ids end"],
            ]) ~ ' end'],
        ]) }} as {{ dbt.type_string() }}) as payload,
        -- the deciding choice, and the read-back when Iterable was read after ctsync's last
        -- write of this group and still differs (someone changed it back): write it again
        coalesce(cast(writes.decided_by_choice_at as {{ dbt.type_string() }}), writes.decision_reason)
        || coalesce(
            case
                when writes.read_back_at > writes.acknowledged_at
                    then '|' || cast(writes.read_back_at as {{ dbt.type_string() }})
            end,
            ''
        ) as decision_basis,
        cast(writes.source_updated_at as {{ dbt.type_timestamp() }}) as source_updated_at

    from writes
    left join creations
        on writes.person_key = creations.person_key

)

select
    cast(record_key as {{ dbt.type_string() }}) as record_key,
    payload,
    cast({{ dbt.hash("payload || '|' || decision_basis") }} as {{ dbt.type_string() }}) as payload_hash,
    source_updated_at
from payloads
