{{ config(materialized='view') }}
{%- set project_type = var('iterable_project_type') %}
-- What the sync must send for users (docs/CONTRACTS.md §4): the diff rule of
-- macros/ctsync_iterable.sql (the pieces iterable_changes is made of), plus identity
-- changes that keep the Iterable profile and its history:
--   * email projects: `move` (updateEmail) from the email of an acknowledged profile to the
--     customer's new email, keyed by the old email; no `delete` for that old email;
--   * userId / hybrid projects: `update` (users/update, userId + new email in dataFields)
--     instead of `upsert` when the email sent differs from the one acknowledged.
-- Users deleted in commercetools are removed by iterable__user_deletions, not here.
with

{{ iterable_changes_inputs('users', removal_handled_by='iterable__user_deletions') }},

profiles as (

    select * from {{ source('ctsync', 'sync_user_profiles') }}

),

upserts as (

    select
        desired.record_key,
        {%- if project_type == 'email' %}
        'upsert' as operation,
        {%- else %}
        case
            when ledger.operation = 'upsert' and profiles.email_hash <> desired.email_hash then 'update'
            else 'upsert'
        end as operation,
        {%- endif %}
        {{ iterable_changes_upsert_columns('users') }}

    from desired
    left join ledger
        on desired.record_key = ledger.record_key
    left join profiles
        on desired.record_key = profiles.record_key
    {{- iterable_changes_unsent_filter() }}

),

-- acknowledged profiles no longer desired under their key
orphaned as (

    {{ iterable_changes_removed(removal_handled_by='iterable__user_deletions') }}

),

{%- if project_type == 'email' %}

-- an orphaned profile whose customer now has another email moves there, unless that email
-- is already one of our profiles (then Iterable would refuse: two profiles to merge by hand)
move_candidates as (

    select
        orphaned.record_key as previous_record_key,
        desired.record_key as new_record_key,
        desired.source_updated_at,
        row_number() over (
            partition by desired.record_key
            order by profiles.acknowledged_at desc, orphaned.record_key
        ) as move_rank

    from orphaned
    inner join profiles
        on orphaned.record_key = profiles.record_key
    inner join desired
        on profiles.customer_id = desired.customer_id
    left join ledger as target
        on desired.record_key = target.record_key
        and target.operation = 'upsert'
    where target.record_key is null

),

moves as (

    select
        previous_record_key as record_key,
        'move' as operation,
        cast({{ ctsync_json_object([['currentEmail', 'previous_record_key'], ['newEmail', 'new_record_key']]) }} as {{ dbt.type_string() }}) as payload,
        source_updated_at,
        new_record_key

    from move_candidates
    where move_rank = 1

),

move_rows as (

    select
        record_key,
        operation,
        payload,
        {{ dbt.hash('payload') }} as payload_hash,
        'users:' || record_key || ':move:' || {{ dbt.hash('new_record_key') }} as idempotency_key,
        source_updated_at

    from moves

),

deletes as (

    select
        {{ iterable_changes_delete_columns('users', 'orphaned') }}

    from orphaned
    left join moves
        on orphaned.record_key = moves.record_key
    where moves.record_key is null

),

final as (

    select * from upserts
    union all
    select * from move_rows
    union all
    select * from deletes

)
{%- else %}

deletes as (

    select
        {{ iterable_changes_delete_columns('users', 'orphaned') }}

    from orphaned

),

final as (

    select * from upserts
    union all
    select * from deletes

)
{%- endif %}

{{ iterable_changes_select('final') }}
