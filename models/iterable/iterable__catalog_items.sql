-- Desired state of the Iterable catalog (`sync.iterable.catalog_name`): one item per published
-- product, item id = product id. Field names carry no periods (Iterable catalog rule). Text
-- fields go through iterable_text (control characters, length), like every text we send.
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
                ['productKey', iterable_text('product_key')],
                ['name', iterable_text('product_name')],
                ['slug', iterable_text('product_slug')],
                ['description', iterable_text('product_description')],
                ['sku', iterable_text('master_sku')],
                ['skus', iterable_text('skus')],
                ['variantCount', 'variant_count'],
                ['imageUrl', 'image_url'],
                ['categoryPath', iterable_text('category_path')],
                ['categories', "coalesce(" ~ ctsync_json('category_path_json') ~ ", " ~ ctsync_json("'[]'") ~ ")"],
                ['price', iterable_number('base_price_amount')],
                ['currency', 'base_currency_code'],
                ['updatedAt', ctsync_iso8601('last_modified_at')],
            ])],
        ]) }} as {{ dbt.type_string() }}) as payload

    from products
    where is_published

)

{{ iterable_desired_select() }}
