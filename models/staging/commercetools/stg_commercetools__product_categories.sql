with

product_categories as (

    {{ ctsync_source_list('commercetools', 'products', 'products__categories', [
        ['id', 'varchar'],
    ]) }}

),

renamed as (

    select
        product_categories.root_id || ':' || product_categories.id as product_category_id,
        product_categories.root_id as product_id,
        product_categories.id as category_id,
        product_categories._dlt_list_idx as category_position

    from product_categories

)

select * from renamed
