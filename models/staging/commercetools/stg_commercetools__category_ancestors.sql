with

ancestors as (

    {{ ctsync_source_list('commercetools', 'categories', 'categories__ancestors', [
        ['id', 'varchar'],
    ]) }}

),

renamed as (

    select
        ancestors.root_id || ':' || ancestors.id as category_ancestor_id,
        ancestors.root_id as category_id,
        ancestors.id as ancestor_category_id,
        -- commercetools lists ancestors root first
        ancestors._dlt_list_idx as ancestor_depth

    from ancestors

)

select * from renamed
