{#-
    Staging of a commercetools line-item list: carts and orders carry the same LineItem
    type (dlt child tables `carts__line_items`, `orders__line_items`), so one definition
    renames and casts both. `parent`: `cart` or `order`; the keys are
    `<parent>_line_item_id` and `<parent>_id`.
-#}
{% macro ctsync_stage_line_items(parent) -%}
with

line_items as (

    {{ ctsync_source('commercetools', parent ~ 's__line_items', [
        ['id', 'varchar'],
        ['product_id', 'varchar'],
        ['product_key', 'varchar'],
        ['name', 'json'],
        ['variant__id', 'bigint'],
        ['variant__sku', 'varchar'],
        ['variant__images', 'json'],
        ['price__value', 'json'],
        ['quantity', 'bigint'],
        ['total_price__currency_code', 'varchar'],
        ['total_price__cent_amount', 'bigint'],
        ['total_price__fraction_digits', 'bigint'],
        ['taxed_price__total_net', 'json'],
        ['taxed_price__total_tax', 'json'],
        ['tax_rate__amount', 'double'],
        ['line_item_mode', 'varchar'],
        ['added_at', 'timestamp with time zone'],
        ['_dlt_root_id', 'varchar'],
        ['_dlt_list_idx', 'bigint'],
    ]) }}

),

parents as (

    {{ ctsync_source('commercetools', parent ~ 's', [['id', 'varchar'], ['_dlt_id', 'varchar']]) }}

),

renamed as (

    select
        line_items.id as {{ parent }}_line_item_id,
        parents.id as {{ parent }}_id,
        line_items._dlt_list_idx as line_position,
        line_items.product_id,
        line_items.product_key,
        line_items.variant__id as variant_id,
        line_items.variant__sku as sku,
        cast(line_items.name as {{ dbt.type_string() }}) as product_name_localized,
        {{ ctsync_json_text('line_items.variant__images', '$[0].url') }} as image_url,
        line_items.quantity,
        line_items.total_price__currency_code as currency_code,
        {{ ctsync_money(
            'cast(' ~ ctsync_json_text('line_items.price__value', '$.centAmount') ~ ' as bigint)',
            'cast(' ~ ctsync_json_text('line_items.price__value', '$.fractionDigits') ~ ' as bigint)'
        ) }} as unit_price_amount,
        {{ ctsync_money('line_items.total_price__cent_amount', 'line_items.total_price__fraction_digits') }} as line_total_amount,
        {{ ctsync_money(
            'cast(' ~ ctsync_json_text('line_items.taxed_price__total_tax', '$.centAmount') ~ ' as bigint)',
            'cast(' ~ ctsync_json_text('line_items.taxed_price__total_tax', '$.fractionDigits') ~ ' as bigint)'
        ) }} as line_tax_amount,
        line_items.tax_rate__amount as tax_rate,
        line_items.line_item_mode,
        {{ ctsync_utc('line_items.added_at') }} as added_at

    from line_items
    inner join parents
        on line_items._dlt_root_id = parents._dlt_id

)

select * from renamed
{%- endmacro %}
