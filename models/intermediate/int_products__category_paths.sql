-- The breadcrumb of each product's primary (first) category, root first, in the default locale.
with

product_categories as (

    select * from {{ ref('stg_commercetools__product_categories') }}

),

categories as (

    select * from {{ ref('stg_commercetools__categories') }}

),

category_ancestors as (

    select * from {{ ref('stg_commercetools__category_ancestors') }}

),

primary_categories as (

    select
        product_id,
        category_id

    from product_categories
    where category_position = 0

),

path_nodes as (

    select
        primary_categories.product_id,
        primary_categories.category_id,
        category_ancestors.ancestor_category_id as node_category_id,
        category_ancestors.ancestor_depth as node_depth

    from primary_categories
    inner join category_ancestors
        on primary_categories.category_id = category_ancestors.category_id

    union all

    -- the category itself closes the path
    select
        product_id,
        category_id,
        category_id as node_category_id,
        1000000 as node_depth

    from primary_categories

),

named_nodes as (

    select
        path_nodes.product_id,
        path_nodes.category_id,
        path_nodes.node_depth,
        -- cleaned once here for every payload that carries category names (iterable_text)
        {{ iterable_text('categories.category_name') }} as category_name

    from path_nodes
    inner join categories
        on path_nodes.node_category_id = categories.category_id

),

final as (

    select
        product_id,
        category_id as primary_category_id,
        {{ dbt.listagg('category_name', "' > '", 'order by node_depth') }} as category_path,
        cast({{ ctsync_json_array_agg('category_name', 'node_depth') }} as {{ dbt.type_string() }}) as category_path_json,
        count(*) as category_depth

    from named_nodes
    group by product_id, category_id

)

select * from final
