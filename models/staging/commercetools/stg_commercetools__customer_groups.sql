with

source as (

    {{ ctsync_source('commercetools', 'customer_groups', [
        ['id', 'varchar'],
        ['key', 'varchar'],
        ['name', 'varchar'],
        ['created_at', 'timestamp with time zone'],
        ['last_modified_at', 'timestamp with time zone'],
    ]) }}

),

renamed as (

    select
        id as customer_group_id,
        "key" as customer_group_key,
        name as customer_group_name,
        {{ ctsync_utc('created_at') }} as created_at,
        {{ ctsync_utc('last_modified_at') }} as last_modified_at

    from source

)

select * from renamed
