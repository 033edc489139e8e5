with

source as (

    {{ ctsync_source('commercetools', 'types', [
        ['id', 'varchar'],
        ['key', 'varchar'],
        ['name', 'json'],
        ['resource_type_ids', 'json'],
        ['created_at', 'timestamp with time zone'],
        ['last_modified_at', 'timestamp with time zone'],
    ]) }}

),

renamed as (

    select
        id as type_id,
        "key" as type_key,
        {{ ctsync_localized('name', "'" ~ var('default_locale') ~ "'") }} as type_name,
        cast(resource_type_ids as {{ dbt.type_string() }}) as resource_type_ids_json,
        {{ ctsync_utc('created_at') }} as created_at,
        {{ ctsync_utc('last_modified_at') }} as last_modified_at

    from source

)

select * from renamed
