with

ancestors as (

    {{ ctsync_source('commercetools', 'categories__ancestors', [
        ['id', 'varchar'],
        ['_dlt_root_id', 'varchar'],
        ['_dlt_list_idx', 'bigint'],
    ]) }}

),

categories as (

    {{ ctsync_source('commercetools', 'categories', [['id', 'varchar'], ['_dlt_id', 'varchar']]) }}

),

renamed as (

    select
        categories.id || ':' || ancestors.id as category_ancestor_id,
        categories.id as category_id,
        ancestors.id as ancestor_category_id,
        -- commercetools lists ancestors root first
        ancestors._dlt_list_idx as ancestor_depth

    from ancestors
    inner join categories
        on ancestors._dlt_root_id = categories._dlt_id

)

select * from renamed
