with

source as (

    {{ ctsync_source('commercetools', 'stores', [
        ['id', 'varchar'],
        ['key', 'varchar'],
        ['name', 'json'],
        ['languages', 'json'],
        ['countries', 'json'],
        ['distribution_channels', 'json'],
        ['custom__fields__currency', 'varchar'],
        ['custom__fields__country', 'varchar'],
        ['custom__fields__default_locale', 'varchar'],
        ['created_at', 'timestamp with time zone'],
        ['last_modified_at', 'timestamp with time zone'],
    ]) }}

),

renamed as (

    select
        id as store_id,
        "key" as store_key,
        {{ ctsync_localized('name', "'" ~ var('default_locale') ~ "'") }} as store_name,
        {{ ctsync_json_text('languages', '$[0]') }} as primary_language,
        cast(languages as {{ dbt.type_string() }}) as languages_json,
        upper({{ ctsync_json_text('countries', '$[0].code') }}) as primary_country_code,
        {{ ctsync_json_text('distribution_channels', '$[0].id') }} as primary_distribution_channel_id,
        upper(custom__fields__currency) as currency_code_custom,
        upper(custom__fields__country) as country_code_custom,
        custom__fields__default_locale as default_locale_custom,
        {{ ctsync_utc('created_at') }} as created_at,
        {{ ctsync_utc('last_modified_at') }} as last_modified_at

    from source

)

select * from renamed
