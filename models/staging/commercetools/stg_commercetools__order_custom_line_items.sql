-- Custom line items of orders: lines that are no product (shipping fees, gift wrap,
-- services), named by the shop, identified by a slug.
with

custom_line_items as (

    {{ ctsync_source_list('commercetools', 'orders', 'orders__custom_line_items', [
        ['id', 'varchar'],
        ['name', 'json'],
        ['slug', 'json'],
        ['quantity', 'bigint'],
        ['total_price__currency_code', 'varchar'],
        ['total_price__cent_amount', 'bigint'],
        ['total_price__fraction_digits', 'bigint'],
    ]) }}

),

renamed as (

    select
        custom_line_items.id as order_custom_line_item_id,
        custom_line_items.root_id as order_id,
        custom_line_items._dlt_list_idx as line_position,
        {{ ctsync_json_text('custom_line_items.slug', '$') }} as slug,
        cast(custom_line_items.name as {{ dbt.type_string() }}) as name_localized,
        custom_line_items.quantity,
        custom_line_items.total_price__currency_code as currency_code,
        {{ ctsync_money('custom_line_items.total_price__cent_amount', 'custom_line_items.total_price__fraction_digits') }} as line_total_amount

    from custom_line_items

)

select * from renamed
