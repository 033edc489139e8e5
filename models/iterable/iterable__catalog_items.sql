-- Desired state of the Iterable catalog (var `iterable_catalog_name`): one item per published
-- product, item id = product id. Field names carry no periods (Iterable catalog rule).
with

products as (

    select * from {{ ref('dim_products') }}

),

final as (

    select
        product_id as record_key,
        last_modified_at as source_updated_at,
        cast({{ ctsync_json_object([
            ['itemId', 'product_id'],
            ['value', ctsync_json_object([
                ['productKey', 'product_key'],
                ['name', 'product_name'],
                ['slug', 'product_slug'],
                ['description', 'product_description'],
                ['sku', 'master_sku'],
                ['skus', 'skus'],
                ['variantCount', 'variant_count'],
                ['imageUrl', 'image_url'],
                ['categoryPath', 'category_path'],
                ['categories', "coalesce(" ~ ctsync_json('category_path_json') ~ ", " ~ ctsync_json("'[]'") ~ ")"],
                ['price', iterable_number('base_price_amount')],
                ['currency', 'base_currency_code'],
                ['updatedAt', ctsync_iso8601('last_modified_at')],
            ])],
        ]) }} as varchar) as payload

    from products
    where is_published

)

select
    cast(record_key as varchar) as record_key,
    payload,
    cast({{ ctsync_md5('payload') }} as varchar) as payload_hash,
    cast(source_updated_at as timestamp) as source_updated_at
from final
