-- Customers deleted in commercetools (CustomerDeleted messages, or found gone by id
-- reconciliation when Messages are off), with the last identity we know for them: the raw
-- row if ingest kept it, else the newest email from email changes, else the identity the
-- reconciliation recorded.
with

messages as (

    select * from {{ ref('stg_commercetools__messages') }}

),

customers as (

    select * from {{ ref('stg_commercetools__customers') }}

),

reconciled as (

    select * from {{ ref('stg_commercetools__reconciled_deletions') }}
    where resource_type_id = 'customer'

),

deletions as (

    select
        resource_id as customer_id,
        min(created_at) as deleted_at,
        max(resource_customer_number) as customer_number

    from (
        select resource_id, created_at, resource_customer_number
        from messages
        where message_type = 'CustomerDeleted'
            and resource_type_id = 'customer'
        union all
        select resource_id, detected_at as created_at, customer_number as resource_customer_number
        from reconciled
    ) as deletion_events
    group by resource_id

),

email_changes as (

    select
        resource_id as customer_id,
        lower(trim(email)) as email_normalized,
        row_number() over (partition by resource_id order by created_at desc, sequence_number desc) as change_rank

    from messages
    where message_type in ('CustomerEmailChanged', 'CustomerCreated')
        and resource_type_id = 'customer'
        and email is not null

),

final as (

    select
        deletions.customer_id,
        deletions.deleted_at,
        coalesce(customers.customer_number, deletions.customer_number) as customer_number,
        coalesce(customers.external_id, reconciled.external_id) as external_id,
        coalesce(customers.email_normalized, email_changes.email_normalized, reconciled.email_normalized) as email_normalized

    from deletions
    left join customers
        on deletions.customer_id = customers.customer_id
    left join email_changes
        on deletions.customer_id = email_changes.customer_id
        and email_changes.change_rank = 1
    left join reconciled
        on deletions.customer_id = reconciled.resource_id

)

select * from final
