with

product_categories as (

    {{ ctsync_source('commercetools', 'products__categories', [
        ['id', 'varchar'],
        ['_dlt_root_id', 'varchar'],
        ['_dlt_list_idx', 'bigint'],
    ]) }}

),

products as (

    {{ ctsync_source('commercetools', 'products', [['id', 'varchar'], ['_dlt_id', 'varchar']]) }}

),

renamed as (

    select
        products.id || ':' || product_categories.id as product_category_id,
        products.id as product_id,
        product_categories.id as category_id,
        product_categories._dlt_list_idx as category_position

    from product_categories
    inner join products
        on product_categories._dlt_root_id = products._dlt_id

)

select * from renamed
