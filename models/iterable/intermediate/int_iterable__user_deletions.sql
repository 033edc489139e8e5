{%- set project_type = var('iterable_project_type') -%}
{%- set method = var('user_deletion_method') -%}
{%- if method not in ['delete', 'forget'] -%}
    {{ exceptions.raise_compiler_error("var user_deletion_method must be delete or forget, got '" ~ method ~ "'") }}
{%- endif -%}
-- Customers deleted in commercetools (CustomerDeleted messages) to delete, or GDPR-forget,
-- in Iterable. The identity is the one they had: from raw data or messages, else from the
-- users payload Iterable last acknowledged for them.
-- A deletion is a fact with its own time: the hash covers the deletion time, so a person
-- who deletes, registers again with the same identity and deletes again is deleted again.
-- A profile whose identity a live customer holds is never deleted (it is theirs now):
-- `is_held_by_live_customer` marks those; iterable__user_deletions leaves them out and
-- iterable__rejections lists them.
with

deleted_customers as (

    select * from {{ ref('int_customers__deleted') }}

),

live_identities as (

    select * from {{ ref('int_iterable__identities') }}
    where is_resolved

),

users_ledger as (

    select
        record_key,
        {{ ctsync_json_text('payload', '$.dataFields.customerId') }} as customer_id,
        payload,
        acknowledged_at

    from {{ source('ctsync', 'sync_ledger') }}
    where object = 'users'

),

acknowledged_users as (

    -- the profiles acknowledged for the deleted customers only (ranked per customer)
    select
        record_key,
        customer_id,
        {{ ctsync_json_text('payload', '$.email') }} as email,
        {{ ctsync_json_text('payload', '$.userId') }} as user_id,
        row_number() over (
            partition by customer_id
            order by acknowledged_at desc
        ) as acknowledgement_rank

    from users_ledger
    where customer_id in (select customer_id from deleted_customers)

),

identified as (

    select
        deleted_customers.customer_id,
        deleted_customers.deleted_at,
        coalesce(acknowledged_users.email, deleted_customers.email_normalized) as email,
        {%- if var('iterable_user_id_field') == 'customer_id' %}
        coalesce(acknowledged_users.user_id, deleted_customers.customer_id) as user_id
        {%- elif var('iterable_user_id_field') == 'customer_number' %}
        coalesce(acknowledged_users.user_id, deleted_customers.customer_number) as user_id
        {%- else %}
        coalesce(acknowledged_users.user_id, deleted_customers.external_id) as user_id
        {%- endif %}

    from deleted_customers
    left join acknowledged_users
        on deleted_customers.customer_id = acknowledged_users.customer_id
        and acknowledged_users.acknowledgement_rank = 1

),

final as (

    select
        {%- if project_type == 'email' %}
        email as record_key,
        {{ ctsync_json_object([['email', 'email'], ['method', "'" ~ method ~ "'"]]) }} as payload,
        {%- else %}
        user_id as record_key,
        {{ ctsync_json_object([['userId', 'user_id'], ['method', "'" ~ method ~ "'"]]) }} as payload,
        {%- endif %}
        customer_id,
        deleted_at as source_updated_at

    from identified
    {%- if project_type == 'email' %}
    where email is not null
    {%- else %}
    where user_id is not null
    {%- endif %}

),

-- two deleted customers may have shared an email: one deletion per Iterable user
deduplicated as (

    select
        *,
        row_number() over (partition by record_key order by source_updated_at desc) as deletion_rank

    from final

),

-- identities live customers hold now, and profiles this project wrote for a live customer
-- (one who shared the deleted customer's email and has just moved to a new one)
held_by_live as (

    select
        {%- if project_type == 'email' %}
        email as record_key
        {%- else %}
        user_id as record_key
        {%- endif %}

    from live_identities
    where {{ 'email' if project_type == 'email' else 'user_id' }} is not null

    union

    select profiles.record_key

    from {{ source('ctsync', 'sync_user_profiles') }} as profiles
    inner join live_identities
        on profiles.customer_id = live_identities.customer_id

)

select
    cast(deduplicated.record_key as {{ dbt.type_string() }}) as record_key,
    cast(deduplicated.payload as {{ dbt.type_string() }}) as payload,
    cast({{ dbt.hash("cast(deduplicated.payload as varchar) || '@' || cast(" ~ ctsync_epoch_seconds('deduplicated.source_updated_at') ~ " as varchar)") }} as {{ dbt.type_string() }}) as payload_hash,
    cast(deduplicated.source_updated_at as {{ dbt.type_timestamp() }}) as source_updated_at,
    held_by_live.record_key is not null as is_held_by_live_customer,
    -- the deleted customer whose deletion this is (the latest, when several shared it)
    cast(deduplicated.customer_id as {{ dbt.type_string() }}) as customer_id
from deduplicated
left join held_by_live
    on deduplicated.record_key = held_by_live.record_key
where deduplicated.deletion_rank = 1
