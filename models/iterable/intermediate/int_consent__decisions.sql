{{
    config(
        materialized='incremental',
        unique_key='record_key',
        incremental_strategy='ctsync_replace',
        ctsync_changes='int_consent__changed_people',
        ctsync_replace_by='person_key',
        on_schema_change='fail',
        post_hook="{{ ctsync_keep_only('person_key', ref('int_consent__people')) }}",
        compressed_text_columns=['record_key'],
    )
}}
-- depends_on: {{ ref('int_consent__changed_people') }}
-- One consent decision per person and subscription group (docs/CONTRACTS.md §4a, README
-- "Consent"). People are resolved customers and, in email and hybrid projects, guests and
-- cart owners identified by email alone. Inputs per group:
--   * commercetools: the customer's flag and recorded opt-in / opt-out times;
--   * Iterable: subscribe / unsubscribe / complaint / hard-bounce events (raw_iterable),
--     except the echoes of ctsync's own writes, and the state Iterable holds (read back);
--   * the acknowledged ledger: what ctsync wrote since that state was read.
-- People and the profile an email change moves: int_consent__people.
-- Choices are compared at whole seconds (Iterable's resolution); on a tie the opt-out wins.
-- Incremental: a build decides again for the people of int_consent__changed_people (their
-- inputs changed since the last build), or for everyone when the subscription groups
-- changed (a rule, a message type's policy); the post-hook drops people no longer there.
with

all_people as (

    select * from {{ ref('int_consent__people') }}

),

consent as (

    select * from {{ ref('int_customers__consent') }}

),

rules as (

    select * from {{ ref('iterable_consent_rules') }}

),

message_types as (

    select * from {{ ref('stg_iterable__message_types') }}

),

iterable_users as (

    select * from {{ ref('stg_iterable__users') }}

),

iterable_events as (

    select * from {{ ref('stg_iterable__consent_events') }}

),

users_ledger as (

    select *
    from {{ source('ctsync', 'sync_ledger') }}
    where operation = 'upsert'
        and object = 'users'

),

subscriptions_ledger as (

    select *
    from {{ source('ctsync', 'sync_ledger') }}
    where operation = 'upsert'
        and object = 'subscriptions'

),

changelog as (

    select *
    from {{ source('ctsync', 'sync_changelog') }}
    where object = 'subscriptions'
        and outcome = 'succeeded'

),

groups as (

    select
        rules.consent_attribute,
        rules.iterable_kind,
        rules.iterable_id,
        rules.source_of_truth,
        case rules.iterable_kind
            when 'email_list' then 'emailList'
            when 'channel' then 'messageChannel'
            else 'messageType'
        end as subscription_group,
        coalesce(message_types.subscription_policy, 'OptOut') as subscription_policy

    from rules
    left join message_types
        on rules.iterable_kind = 'message_type'
        and rules.iterable_id = message_types.message_type_id

),

{%- if is_incremental() %}
{#- what makes a group: a change of any of these decides again for everyone -#}
{%- set group_columns = 'consent_attribute, iterable_kind, iterable_id, subscription_group, subscription_policy, source_of_truth' %}

stored_groups as (

    select distinct {{ group_columns }}
    from {{ this }}

),

groups_changed as (

    select count(*) > 0 as is_changed
    from (
        (
            select {{ group_columns }} from groups
            except
            select {{ group_columns }} from stored_groups
        )
        union all
        (
            select {{ group_columns }} from stored_groups
            except
            select {{ group_columns }} from groups
        )
    ) as differences

),
{%- endif %}

people as (

    select *
    from all_people
    where {{ ctsync_only_changed('person_key', 'int_consent__changed_people') }}
        {%- if is_incremental() %}
        or (select is_changed from groups_changed)
        {%- endif %}

),

moved_from as (

    -- email projects: the profile updateEmail moves to this person in the same run
    select
        person_key,
        previous_email

    from people
    where previous_email is not null

),

people_users as (

    -- the read-back profiles of these people (their own, or the one that moves to them)
    select *
    from iterable_users
    where iterable_user_key in (select iterable_user_key from people)
        or iterable_user_key in (select 'email:' || previous_email from moved_from)

),

read_back as (

    -- what Iterable holds for each person: their own profile, else (email projects) the
    -- profile about to be moved to them
    select
        people.person_key,
        people_users.*

    from people
    inner join people_users
        on people.iterable_user_key = people_users.iterable_user_key

    union all

    select
        moved_from.person_key,
        people_users.*

    from moved_from
    inner join people_users
        on 'email:' || moved_from.previous_email = people_users.iterable_user_key
    where not exists (
        select 1
        from people
        inner join people_users as own
            on people.iterable_user_key = own.iterable_user_key
        where people.person_key = moved_from.person_key
    )

),

person_groups as (

    select
        people.person_key,
        people.email,
        people.user_id,
        people.customer_id,
        people.is_guest,
        people.iterable_user_key,
        people.source_updated_at,
        groups.consent_attribute,
        groups.iterable_kind,
        groups.iterable_id,
        groups.subscription_group,
        groups.subscription_policy,
        groups.source_of_truth,
        people.person_key || ':' || groups.iterable_kind || ':' || cast(groups.iterable_id as {{ dbt.type_string() }}) as record_key

    from people
    cross join groups

),

people_events as (

    -- the events that may name these people (one read of the events table)
    select *
    from iterable_events
    where user_id in (select user_id from people)
        or email in (select email from people)
        or email in (select previous_email from moved_from)

),

event_people as (

    -- by userId where both sides have one, by email otherwise
    select
        people.person_key,
        people_events.*

    from people_events
    inner join people
        on people_events.user_id = people.user_id

    union all

    select
        people.person_key,
        people_events.*

    from people_events
    inner join people
        on people_events.email = people.email
    where people_events.user_id is null
        or people.user_id is null

    union all

    select
        moved_from.person_key,
        people_events.*

    from people_events
    inner join moved_from
        on people_events.email = moved_from.previous_email

),

event_groups as (

    select
        person_groups.record_key,
        event_people.consent_event_id,
        event_people.consent_action,
        {{ dbt.date_trunc('second', 'event_people.occurred_at') }} as occurred_at

    from event_people
    inner join person_groups
        on event_people.person_key = person_groups.person_key
        and (
            (
                event_people.consent_action in ('subscribe', 'unsubscribe')
                and (
                    (person_groups.iterable_kind = 'email_list'
                        and {{ ctsync_json_array_contains('event_people.email_list_ids', '$', 'person_groups.iterable_id') }})
                    or (person_groups.iterable_kind = 'channel'
                        and {{ ctsync_json_array_contains('event_people.channel_ids', '$', 'person_groups.iterable_id') }})
                    or (person_groups.iterable_kind = 'message_type'
                        and {{ ctsync_json_array_contains('event_people.message_type_ids', '$', 'person_groups.iterable_id') }})
                )
            )
            -- complaints and hard bounces close every email group
            or (
                event_people.consent_action in ('complaint', 'hard_bounce')
                and person_groups.consent_attribute = 'email'
            )
        )

),

our_writes as (

    select
        changelog_id,
        record_key,
        attempted_at,
        case when endpoint like '%unsubscribe%' then 'unsubscribe' else 'subscribe' end as consent_action

    from changelog
    -- creations (bulkUpdateSubscriptions) log no consent event in Iterable: nothing to explain
    where endpoint <> 'bulk_update_subscriptions'

),

echo_candidates as (

    -- each succeeded write of ctsync explains at most one event: the closest one of the
    -- same record and direction around the write (the request may have taken a while
    -- before the write was recorded; Iterable may log the event a little later)
    select
        event_groups.record_key,
        event_groups.consent_event_id,
        row_number() over (
            partition by our_writes.changelog_id
            order by abs({{ ctsync_epoch_seconds('event_groups.occurred_at') }} - {{ ctsync_epoch_seconds('our_writes.attempted_at') }}),
                event_groups.consent_event_id
        ) as closeness_rank

    from event_groups
    inner join our_writes
        on event_groups.record_key = our_writes.record_key
        and event_groups.consent_action = our_writes.consent_action
        and event_groups.occurred_at
            between {{ dbt.dateadd('minute', -10, 'our_writes.attempted_at') }}
            and {{ dbt.dateadd('minute', var('consent_echo_window_minutes'), 'our_writes.attempted_at') }}

),

recorded_choices as (

    -- an event that one of ctsync's own writes explains is not the person's choice
    select event_groups.*

    from event_groups
    where not exists (
        select 1
        from echo_candidates
        where echo_candidates.closeness_rank = 1
            and echo_candidates.record_key = event_groups.record_key
            and echo_candidates.consent_event_id = event_groups.consent_event_id
    )

),

iterable_choices as (

    select
        record_key,
        max(case when consent_action = 'subscribe' then occurred_at end) as iterable_opt_in_at,
        max(case when consent_action = 'unsubscribe' then occurred_at end) as iterable_opt_out_at,
        max(case when consent_action = 'complaint' then occurred_at end) as complained_at,
        max(case when consent_action = 'hard_bounce' then occurred_at end) as hard_bounced_at

    from recorded_choices
    group by record_key

),

held as (

    select
        person_groups.record_key,
        read_back.iterable_user_key is not null as is_held_by_iterable,
        read_back.loaded_at as read_back_at,
        read_back.profile_updated_at,
        case person_groups.iterable_kind
            when 'email_list'
                then {{ ctsync_json_array_contains('read_back.email_list_ids', '$', 'person_groups.iterable_id') }}
            when 'channel'
                then not {{ ctsync_json_array_contains('read_back.unsubscribed_channel_ids', '$', 'person_groups.iterable_id') }}
            else case
                when person_groups.subscription_policy = 'OptIn'
                    then {{ ctsync_json_array_contains('read_back.subscribed_message_type_ids', '$', 'person_groups.iterable_id') }}
                else not {{ ctsync_json_array_contains('read_back.unsubscribed_message_type_ids', '$', 'person_groups.iterable_id') }}
            end
        end as read_back_is_subscribed,
        -- what a profile Iterable has just created holds: on no list, not opted out of any
        -- channel or opt-out message type, not opted in to any opt-in message type
        case
            when person_groups.iterable_kind = 'email_list' then false
            when person_groups.iterable_kind = 'channel' then true
            else person_groups.subscription_policy <> 'OptIn'
        end as default_is_subscribed

    from person_groups
    left join read_back
        on person_groups.person_key = read_back.person_key

),

acknowledged as (

    -- ctsync's last write of each of these people's groups
    select
        subscriptions_ledger.record_key,
        subscriptions_ledger.acknowledged_at,
        {{ ctsync_json_text('subscriptions_ledger.payload', '$.action') }} = 'subscribe' as is_subscribed

    from subscriptions_ledger
    inner join person_groups
        on subscriptions_ledger.record_key = person_groups.record_key

),

people_acknowledged as (

    -- people ctsync has already written to Iterable (their profile, or a subscription)
    select person_key
    from people
    where person_key in (select record_key from users_ledger)

    union

    select person_groups.person_key
    from person_groups
    inner join acknowledged
        on person_groups.record_key = acknowledged.record_key

),

inputs as (

    select
        person_groups.*,
        consent.has_opt_in_flag,
        consent.has_recorded_opt_in,
        coalesce(consent.is_pending_double_opt_in, false) as is_pending_double_opt_in,
        -- commercetools' choices, at whole seconds
        case
            when consent.has_recorded_opt_in
                then {{ dbt.date_trunc('second', 'consent.opted_in_at') }}
        end as commercetools_opt_in_at,
        {{ dbt.date_trunc('second', "coalesce(consent.opted_out_at, case when not coalesce(consent.has_opt_in_flag, false) then consent.opted_in_at end)") }}
            as commercetools_opt_out_at,
        iterable_choices.iterable_opt_in_at,
        iterable_choices.iterable_opt_out_at,
        iterable_choices.complained_at,
        iterable_choices.hard_bounced_at,
        held.is_held_by_iterable,
        held.read_back_at,
        held.read_back_is_subscribed,
        held.default_is_subscribed,
        held.profile_updated_at,
        acknowledged.acknowledged_at,
        acknowledged.is_subscribed as acknowledged_is_subscribed,
        people_acknowledged.person_key is not null as was_written_before

    from person_groups
    left join consent
        on person_groups.customer_id = consent.customer_id
        and person_groups.iterable_kind = consent.iterable_kind
        and person_groups.iterable_id = consent.iterable_id
    left join iterable_choices
        on person_groups.record_key = iterable_choices.record_key
    left join held
        on person_groups.record_key = held.record_key
    left join acknowledged
        on person_groups.record_key = acknowledged.record_key
    left join people_acknowledged
        on person_groups.person_key = people_acknowledged.person_key

),

current_state as (

    select
        *,
        -- what Iterable holds now: ctsync's own write when it is newer than the read-back,
        -- else the read-back, else what a new profile starts with
        case
            when acknowledged_at is not null
                and (read_back_at is null or acknowledged_at > read_back_at)
                then acknowledged_is_subscribed
            when is_held_by_iterable then read_back_is_subscribed
            else default_is_subscribed
        end as is_subscribed_in_iterable,
        -- an opt-out Iterable holds without an event (set by another tool) still counts,
        -- as of the profile's last update, unless it is ctsync's own write
        -- (expected: ctsync's last write, else a new profile's default)
        case
            when is_held_by_iterable
                and not read_back_is_subscribed
                and iterable_opt_out_at is null
                and coalesce(acknowledged_is_subscribed, default_is_subscribed)
                and (acknowledged_at is null or read_back_at > acknowledged_at)
                then {{ dbt.date_trunc('second', 'profile_updated_at') }}
        end as held_opt_out_at

    from inputs

),

timed as (

    select
        *,
        case
            when iterable_opt_out_at is null then held_opt_out_at
            when held_opt_out_at is null then iterable_opt_out_at
            when held_opt_out_at > iterable_opt_out_at then held_opt_out_at
            else iterable_opt_out_at
        end as iterable_out_at

    from current_state

),

decided as (

    select
        *,
        case
            when complained_at is not null then 'complaint'
            when hard_bounced_at is not null then 'hard_bounce'
            when source_of_truth = 'iterable' and (is_held_by_iterable or was_written_before)
                then 'iterable_owned'
            when source_of_truth = 'opt_out_wins'
                and iterable_opt_in_at is not null
                and (commercetools_opt_in_at is null or iterable_opt_in_at > commercetools_opt_in_at)
                and iterable_opt_in_at > coalesce(commercetools_opt_out_at, cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }}))
                and iterable_opt_in_at > coalesce(iterable_out_at, cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }}))
                then 'iterable_opt_in'
            when commercetools_opt_in_at is not null
                and commercetools_opt_in_at > coalesce(iterable_out_at, cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }}))
                and (
                    source_of_truth <> 'opt_out_wins'
                    or commercetools_opt_in_at > coalesce(commercetools_opt_out_at, cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }}))
                )
                then 'commercetools_opt_in'
            when iterable_out_at is not null
                and iterable_out_at >= coalesce(commercetools_opt_in_at, cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }}))
                and iterable_out_at >= coalesce(commercetools_opt_out_at, cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }}))
                then 'iterable_opt_out'
            when commercetools_opt_out_at is not null then 'commercetools_opt_out'
            when is_pending_double_opt_in then 'pending_double_opt_in'
            when is_guest then 'guest_without_opt_in'
            when has_opt_in_flag and not has_recorded_opt_in then 'opt_in_not_recorded'
            else 'no_recorded_opt_in'
        end as decision_reason

    from timed

),

final as (

    select
        record_key,
        person_key,
        email,
        user_id,
        customer_id,
        is_guest,
        consent_attribute,
        iterable_kind,
        iterable_id,
        subscription_group,
        subscription_policy,
        source_of_truth,
        commercetools_opt_in_at,
        commercetools_opt_out_at,
        iterable_opt_in_at,
        iterable_out_at as iterable_opt_out_at,
        complained_at,
        hard_bounced_at,
        is_held_by_iterable,
        read_back_at,
        acknowledged_at,
        is_subscribed_in_iterable,
        decision_reason,
        case decision_reason
            when 'iterable_opt_in' then iterable_opt_in_at
            when 'commercetools_opt_in' then commercetools_opt_in_at
            when 'iterable_opt_out' then iterable_out_at
            when 'commercetools_opt_out' then commercetools_opt_out_at
            when 'complaint' then complained_at
            when 'hard_bounce' then hard_bounced_at
        end as decided_by_choice_at,
        case
            when decision_reason = 'iterable_owned' then is_subscribed_in_iterable
            else decision_reason in ('iterable_opt_in', 'commercetools_opt_in')
        end as is_subscribed,
        -- a person Iterable does not hold and ctsync never wrote: created with this consent
        not coalesce(is_held_by_iterable, false) and not was_written_before as is_new_to_iterable,
        source_updated_at

    from decided

)

select
    *,
    is_subscribed <> is_subscribed_in_iterable as needs_write
from final
