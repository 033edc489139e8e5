-- Master variant (flattened on the product row) and the other variants (child table),
-- one row per variant; prices stay a JSON list (one entry per currency/country/channel).
with

products as (

    {{ ctsync_source('commercetools', 'products', [
        ['id', 'varchar'],
        ['_dlt_id', 'varchar'],
        ['master_variant__id', 'bigint'],
        ['master_variant__sku', 'varchar'],
        ['master_variant__key', 'varchar'],
        ['master_variant__prices', 'json'],
        ['master_variant__images', 'json'],
    ]) }}

),

variants as (

    {{ ctsync_source('commercetools', 'products__variants', [
        ['id', 'bigint'],
        ['sku', 'varchar'],
        ['key', 'varchar'],
        ['prices', 'json'],
        ['images', 'json'],
        ['_dlt_root_id', 'varchar'],
    ]) }}

),

master_variants as (

    select
        id as product_id,
        master_variant__id as variant_id,
        master_variant__sku as sku,
        master_variant__key as variant_key,
        true as is_master_variant,
        cast(master_variant__prices as {{ dbt.type_string() }}) as prices_json,
        {{ ctsync_json_text('master_variant__images', '$[0].url') }} as image_url

    from products
    where master_variant__id is not null

),

other_variants as (

    select
        products.id as product_id,
        variants.id as variant_id,
        variants.sku,
        variants."key" as variant_key,
        false as is_master_variant,
        cast(variants.prices as {{ dbt.type_string() }}) as prices_json,
        {{ ctsync_json_text('variants.images', '$[0].url') }} as image_url

    from variants
    inner join products
        on variants._dlt_root_id = products._dlt_id

),

unioned as (

    select * from master_variants
    union all
    select * from other_variants

),

final as (

    select
        product_id || ':' || cast(variant_id as {{ dbt.type_string() }}) as product_variant_id,
        *

    from unioned

)

select * from final
