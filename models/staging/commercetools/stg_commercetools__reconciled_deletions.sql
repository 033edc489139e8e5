-- Resources `ctsync ingest --reconcile-deletions` (or a full refresh) found gone from
-- commercetools without a *Deleted message (Messages disabled, or expired), with the
-- customer's last known identity. Empty until a reconciliation has run.
with

source as (

    {{ ctsync_source('commercetools', 'reconciled_deletions', [
        ['resource_type_id', 'varchar'],
        ['resource_id', 'varchar'],
        ['customer_number', 'varchar'],
        ['email', 'varchar'],
        ['external_id', 'varchar'],
        ['detected_at', 'timestamp with time zone'],
    ]) }}

),

renamed as (

    select
        resource_type_id || ':' || resource_id as reconciled_deletion_id,
        resource_type_id,
        resource_id,
        customer_number,
        lower(trim(email)) as email_normalized,
        external_id,
        {{ ctsync_utc('detected_at') }} as detected_at

    from source

)

select * from renamed
