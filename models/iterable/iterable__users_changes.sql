{{ config(materialized='view') }}
{%- set project_type = var('iterable_project_type') %}
-- What the sync must send for users (docs/CONTRACTS.md §4), like macros/ctsync_iterable.sql
-- iterable_changes, plus identity changes that keep the Iterable profile and its history:
--   * email projects: `move` (updateEmail) from the email of an acknowledged profile to the
--     customer's new email, keyed by the old email; no `delete` for that old email;
--   * userId / hybrid projects: `update` (users/update, userId + new email in dataFields)
--     instead of `upsert` when the email sent differs from the one acknowledged.
-- Users deleted in commercetools are removed by iterable__user_deletions, not here.
with

desired as (

    select * from {{ ref('iterable__users') }}

),

ledger as (

    select *
    from {{ source('ctsync', 'sync_ledger') }}
    where object = 'users'

),

profiles as (

    select * from {{ source('ctsync', 'sync_user_profiles') }}

),

handled_elsewhere as (

    select distinct record_key from {{ ref('iterable__user_deletions') }}

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
        desired.payload,
        desired.payload_hash,
        'users:' || desired.record_key || ':' || coalesce(desired.payload_hash, 'no-payload') as idempotency_key,
        desired.source_updated_at

    from desired
    left join ledger
        on desired.record_key = ledger.record_key
    left join profiles
        on desired.record_key = profiles.record_key
    {%- if not var('ctsync_full_resync', false) %}
    where ledger.record_key is null
        or ledger.operation <> 'upsert'
        or ledger.payload_hash is null
        or ledger.payload_hash <> desired.payload_hash
        or desired.payload_hash is null
    {%- endif %}

),

-- acknowledged profiles no longer desired under their key
orphaned as (

    select ledger.*
    from ledger
    left join desired
        on ledger.record_key = desired.record_key
    left join handled_elsewhere
        on ledger.record_key = handled_elsewhere.record_key
    where ledger.operation = 'upsert'
        and desired.record_key is null
        and handled_elsewhere.record_key is null

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
        orphaned.record_key,
        'delete' as operation,
        orphaned.payload,
        cast(null as {{ dbt.type_string() }}) as payload_hash,
        'users:' || orphaned.record_key || ':delete:' || coalesce(orphaned.payload_hash, '') as idempotency_key,
        cast(null as {{ dbt.type_timestamp() }}) as source_updated_at

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
        record_key,
        'delete' as operation,
        payload,
        cast(null as {{ dbt.type_string() }}) as payload_hash,
        'users:' || record_key || ':delete:' || coalesce(payload_hash, '') as idempotency_key,
        cast(null as {{ dbt.type_timestamp() }}) as source_updated_at

    from orphaned

),

final as (

    select * from upserts
    union all
    select * from deletes

)
{%- endif %}

select
    cast(record_key as {{ dbt.type_string() }}) as record_key,
    cast(operation as {{ dbt.type_string() }}) as operation,
    cast(payload as {{ dbt.type_string() }}) as payload,
    cast(payload_hash as {{ dbt.type_string() }}) as payload_hash,
    cast(idempotency_key as {{ dbt.type_string() }}) as idempotency_key,
    cast(source_updated_at as {{ dbt.type_timestamp() }}) as source_updated_at
from final
