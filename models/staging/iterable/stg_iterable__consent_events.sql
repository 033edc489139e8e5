with

source as (

    {{ ctsync_source('iterable', 'consent_events', [
        ['event_key', 'varchar'],
        ['event_type', 'varchar'],
        ['created_at', 'timestamp with time zone'],
        ['email', 'varchar'],
        ['user_id', 'varchar'],
        ['email_list_ids', 'varchar'],
        ['channel_ids', 'varchar'],
        ['message_type_ids', 'varchar'],
        ['source', 'varchar'],
        ['recipient_state', 'varchar'],
        ['loaded_at', 'timestamp with time zone'],
    ]) }}

),

renamed as (

    select
        event_key as consent_event_id,
        event_type,
        case event_type
            when 'emailSubscribe' then 'subscribe'
            when 'emailUnSubscribe' then 'unsubscribe'
            when 'emailComplaint' then 'complaint'
            when 'emailBounce' then 'hard_bounce'
        end as consent_action,
        {{ ctsync_utc('created_at') }} as occurred_at,
        lower(email) as email,
        user_id,
        coalesce(email_list_ids, '[]') as email_list_ids,
        coalesce(channel_ids, '[]') as channel_ids,
        coalesce(message_type_ids, '[]') as message_type_ids,
        source as event_source,
        {{ ctsync_utc('loaded_at') }} as loaded_at

    from source
    where event_type in ('emailSubscribe', 'emailUnSubscribe', 'emailComplaint')
        or (event_type = 'emailBounce' and coalesce(recipient_state, 'HardBounce') = 'HardBounce')

)

select * from renamed
