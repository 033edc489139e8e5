-- Customers deleted in commercetools (CustomerDeleted messages), with the last identity we
-- know for them: the raw row if ingest kept it, else the newest email from email changes.
with

messages as (

    select * from {{ ref('stg_commercetools__messages') }}

),

customers as (

    select * from {{ ref('stg_commercetools__customers') }}

),

deletions as (

    select
        resource_id as customer_id,
        min(created_at) as deleted_at,
        max(resource_customer_number) as customer_number

    from messages
    where message_type = 'CustomerDeleted'
        and resource_type_id = 'customer'
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
        customers.external_id,
        coalesce(customers.email_normalized, email_changes.email_normalized) as email_normalized

    from deletions
    left join customers
        on deletions.customer_id = customers.customer_id
    left join email_changes
        on deletions.customer_id = email_changes.customer_id
        and email_changes.change_rank = 1

)

select * from final
