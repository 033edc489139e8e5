with

products as (

    select * from {{ ref('stg_commercetools__products') }}

),

variants as (

    select * from {{ ref('stg_commercetools__product_variants') }}

),

category_paths as (

    select * from {{ ref('int_products__category_paths') }}

),

master_variants as (

    select *
    from variants
    where is_master_variant

),

master_prices as (

    {{ ctsync_json_array_elements('master_variants', ['product_id'], 'prices_json', 'price') }}

),

base_prices as (

    -- the plain price (no country, customer group or channel scope) in the base currency
    select
        product_id,
        min({{ ctsync_money(
            'cast(' ~ ctsync_json_text('price', '$.value.centAmount') ~ ' as bigint)',
            'cast(' ~ ctsync_json_text('price', '$.value.fractionDigits') ~ ' as bigint)'
        ) }}) as base_price_amount

    from master_prices
    where {{ ctsync_json_text('price', '$.value.currencyCode') }} = '{{ var("base_currency") }}'
        and {{ ctsync_json_text('price', '$.country') }} is null
        and {{ ctsync_json_text('price', '$.customerGroup.id') }} is null
        and {{ ctsync_json_text('price', '$.channel.id') }} is null
    group by product_id

),

variant_counts as (

    select
        product_id,
        count(*) as variant_count,
        {{ dbt.listagg('sku', "','", 'order by variant_id') }} as skus

    from variants
    group by product_id

),

final as (

    select
        products.product_id,
        products.product_key,
        products.product_type_id,
        products.product_name,
        products.product_slug,
        products.product_description,
        products.name_localized,
        products.is_published,
        products.master_sku,
        master_variants.image_url,
        variant_counts.variant_count,
        variant_counts.skus,
        category_paths.primary_category_id,
        category_paths.category_path,
        category_paths.category_path_json,
        '{{ var("base_currency") }}' as base_currency_code,
        base_prices.base_price_amount,
        products.created_at,
        products.last_modified_at

    from products
    left join master_variants
        on products.product_id = master_variants.product_id
    left join variant_counts
        on products.product_id = variant_counts.product_id
    left join category_paths
        on products.product_id = category_paths.product_id
    left join base_prices
        on products.product_id = base_prices.product_id

)

select * from final
