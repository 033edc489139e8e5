with

source as (

    {{ ctsync_source('commercetools', 'messages', [
        ['id', 'varchar'],
        ['sequence_number', 'bigint'],
        ['resource__type_id', 'varchar'],
        ['resource__id', 'varchar'],
        ['resource_version', 'bigint'],
        ['type', 'varchar'],
        ['resource_user_provided_identifiers__key', 'varchar'],
        ['resource_user_provided_identifiers__customer_number', 'varchar'],
        ['resource_user_provided_identifiers__order_number', 'varchar'],
        ['email', 'varchar'],
        ['old_email', 'varchar'],
        ['customer', 'json'],
        ['order_state', 'varchar'],
        ['old_order_state', 'varchar'],
        ['shipment_state', 'varchar'],
        ['old_shipment_state', 'varchar'],
        ['created_at', 'timestamp with time zone'],
    ]) }}

),

renamed as (

    select
        id as message_id,
        sequence_number,
        resource__type_id as resource_type_id,
        resource__id as resource_id,
        resource_version,
        "type" as message_type,
        resource_user_provided_identifiers__key as resource_key,
        resource_user_provided_identifiers__customer_number as resource_customer_number,
        resource_user_provided_identifiers__order_number as resource_order_number,
        coalesce(email, {{ ctsync_json_text('customer', '$.email') }}) as email,
        old_email,
        order_state,
        old_order_state,
        shipment_state,
        old_shipment_state,
        {{ ctsync_utc('created_at') }} as created_at

    from source

)

select * from renamed
