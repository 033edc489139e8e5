with

source as (

    {{ ctsync_source('iterable', 'users', [
        ['user_key', 'varchar'],
        ['email', 'varchar'],
        ['user_id', 'varchar'],
        ['email_list_ids', 'varchar'],
        ['unsubscribed_channel_ids', 'varchar'],
        ['unsubscribed_message_type_ids', 'varchar'],
        ['subscribed_message_type_ids', 'varchar'],
        ['profile_updated_at', 'timestamp with time zone'],
        ['loaded_at', 'timestamp with time zone'],
    ]) }}

),

renamed as (

    select
        user_key as iterable_user_key,
        lower(email) as email,
        user_id,
        coalesce(email_list_ids, '[]') as email_list_ids,
        coalesce(unsubscribed_channel_ids, '[]') as unsubscribed_channel_ids,
        coalesce(unsubscribed_message_type_ids, '[]') as unsubscribed_message_type_ids,
        coalesce(subscribed_message_type_ids, '[]') as subscribed_message_type_ids,
        {{ ctsync_utc('profile_updated_at') }} as profile_updated_at,
        {{ ctsync_utc('loaded_at') }} as loaded_at

    from source

)

select * from renamed
