with

source as (

    {{ ctsync_source('iterable', 'message_types', [
        ['id', 'bigint'],
        ['name', 'varchar'],
        ['channel_id', 'bigint'],
        ['subscription_policy', 'varchar'],
    ]) }}

),

renamed as (

    select
        id as message_type_id,
        name as message_type_name,
        channel_id,
        subscription_policy

    from source

)

select * from renamed
