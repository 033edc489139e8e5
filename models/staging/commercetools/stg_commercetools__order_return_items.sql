with

return_items as (

    {{ ctsync_source_list('commercetools', 'orders', 'orders__return_info__items', [
        ['id', 'varchar'],
        ['type', 'varchar'],
        ['line_item_id', 'varchar'],
        ['custom_line_item_id', 'varchar'],
        ['quantity', 'bigint'],
        ['shipment_state', 'varchar'],
        ['payment_state', 'varchar'],
        ['comment', 'varchar'],
        ['created_at', 'timestamp with time zone'],
        ['last_modified_at', 'timestamp with time zone'],
        ['_dlt_parent_id', 'varchar'],
    ]) }}

),

return_infos as (

    {{ ctsync_source('commercetools', 'orders__return_info', [
        ['return_tracking_id', 'varchar'],
        ['return_date', 'timestamp with time zone'],
        ['_dlt_id', 'varchar'],
    ]) }}

),

renamed as (

    select
        return_items.id as return_item_id,
        return_items.root_id as order_id,
        return_items."type" as return_item_type,
        return_items.line_item_id as order_line_item_id,
        return_items.custom_line_item_id,
        return_items.quantity,
        return_items.shipment_state,
        return_items.payment_state,
        return_items.comment,
        return_infos.return_tracking_id,
        {{ ctsync_utc('return_infos.return_date') }} as returned_at,
        {{ ctsync_utc('return_items.created_at') }} as created_at,
        {{ ctsync_utc('return_items.last_modified_at') }} as last_modified_at

    from return_items
    left join return_infos
        on return_items._dlt_parent_id = return_infos._dlt_id

)

select * from renamed
