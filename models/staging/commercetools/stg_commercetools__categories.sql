with

source as (

    {{ ctsync_source('commercetools', 'categories', [
        ['id', 'varchar'],
        ['version', 'bigint'],
        ['key', 'varchar'],
        ['external_id', 'varchar'],
        ['name', 'json'],
        ['slug', 'json'],
        ['parent__id', 'varchar'],
        ['order_hint', 'varchar'],
        ['created_at', 'timestamp with time zone'],
        ['last_modified_at', 'timestamp with time zone'],
    ]) }}

),

renamed as (

    select
        id as category_id,
        version as category_version,
        "key" as category_key,
        external_id,
        cast(name as {{ dbt.type_string() }}) as name_localized,
        {{ ctsync_localized('name', "'" ~ var('default_locale') ~ "'") }} as category_name,
        {{ ctsync_localized('slug', "'" ~ var('default_locale') ~ "'") }} as category_slug,
        parent__id as parent_category_id,
        order_hint,
        {{ ctsync_utc('created_at') }} as created_at,
        {{ ctsync_utc('last_modified_at') }} as last_modified_at

    from source

)

select * from renamed
