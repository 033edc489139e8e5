with

source as (

    {{ ctsync_source('commercetools', 'products', [
        ['id', 'varchar'],
        ['version', 'bigint'],
        ['key', 'varchar'],
        ['product_type__id', 'varchar'],
        ['name', 'json'],
        ['slug', 'json'],
        ['description', 'json'],
        ['published', 'boolean'],
        ['has_staged_changes', 'boolean'],
        ['master_variant__id', 'bigint'],
        ['master_variant__sku', 'varchar'],
        ['master_variant__key', 'varchar'],
        ['master_variant__prices', 'json'],
        ['master_variant__images', 'json'],
        ['created_at', 'timestamp with time zone'],
        ['last_modified_at', 'timestamp with time zone'],
    ]) }}

),

renamed as (

    select
        id as product_id,
        version as product_version,
        "key" as product_key,
        product_type__id as product_type_id,
        cast(name as {{ dbt.type_string() }}) as name_localized,
        cast(slug as {{ dbt.type_string() }}) as slug_localized,
        cast(description as {{ dbt.type_string() }}) as description_localized,
        {{ ctsync_localized('name', "'" ~ var('default_locale') ~ "'") }} as product_name,
        {{ ctsync_localized('slug', "'" ~ var('default_locale') ~ "'") }} as product_slug,
        {{ ctsync_localized('description', "'" ~ var('default_locale') ~ "'") }} as product_description,
        coalesce(published, true) as is_published,
        coalesce(has_staged_changes, false) as has_staged_changes,
        master_variant__id as master_variant_id,
        master_variant__sku as master_sku,
        {{ ctsync_utc('created_at') }} as created_at,
        {{ ctsync_utc('last_modified_at') }} as last_modified_at

    from source

)

select * from renamed
