{%- set consent_columns = [] -%}
{%- for attribute in var('consent_attributes') -%}
    {%- do consent_columns.append(['custom__fields__' ~ attribute ~ '_opt_in', 'boolean']) -%}
    {%- do consent_columns.append(['custom__fields__' ~ attribute ~ '_opt_in_at', 'timestamp with time zone']) -%}
    {%- do consent_columns.append(['custom__fields__' ~ attribute ~ '_opt_out_at', 'timestamp with time zone']) -%}
    {%- do consent_columns.append(['custom__fields__' ~ attribute ~ '_opt_in_confirmed_at', 'timestamp with time zone']) -%}
{%- endfor -%}

with

source as (

    {{ ctsync_source('commercetools', 'customers', [
        ['id', 'varchar'],
        ['version', 'bigint'],
        ['key', 'varchar'],
        ['customer_number', 'varchar'],
        ['external_id', 'varchar'],
        ['email', 'varchar'],
        ['first_name', 'varchar'],
        ['middle_name', 'varchar'],
        ['last_name', 'varchar'],
        ['title', 'varchar'],
        ['salutation', 'varchar'],
        ['date_of_birth', 'varchar'],
        ['company_name', 'varchar'],
        ['locale', 'varchar'],
        ['is_email_verified', 'boolean'],
        ['authentication_mode', 'varchar'],
        ['customer_group__id', 'varchar'],
        ['default_shipping_address_id', 'varchar'],
        ['default_billing_address_id', 'varchar'],
        ['custom__type__id', 'varchar'],
        ['custom__fields__phone', 'varchar'],
        ['custom__fields__loyalty_tier', 'varchar'],
        ['custom__fields__preferred_channel', 'varchar'],
        ['created_at', 'timestamp with time zone'],
        ['last_modified_at', 'timestamp with time zone'],
    ] + consent_columns) }}

),

renamed as (

    select
        id as customer_id,
        version as customer_version,
        "key" as customer_key,
        customer_number,
        external_id,
        email,
        lower(trim(email)) as email_normalized,
        first_name,
        middle_name,
        last_name,
        title,
        nullif(salutation, '') as salutation,
        cast(date_of_birth as date) as birth_date,
        company_name,
        locale,
        coalesce(is_email_verified, false) as is_email_verified,
        authentication_mode,
        customer_group__id as customer_group_id,
        default_shipping_address_id,
        default_billing_address_id,
        custom__type__id as custom_type_id,
        custom__fields__phone as phone,
        lower(custom__fields__loyalty_tier) as loyalty_tier_custom,
        custom__fields__preferred_channel as preferred_channel,
        {%- for attribute in var('consent_attributes') %}
        custom__fields__{{ attribute }}_opt_in as {{ attribute }}_opt_in,
        {{ ctsync_utc('custom__fields__' ~ attribute ~ '_opt_in_at') }} as {{ attribute }}_opt_in_at,
        {{ ctsync_utc('custom__fields__' ~ attribute ~ '_opt_out_at') }} as {{ attribute }}_opt_out_at,
        {{ ctsync_utc('custom__fields__' ~ attribute ~ '_opt_in_confirmed_at') }} as {{ attribute }}_opt_in_confirmed_at,
        {%- endfor %}
        {{ ctsync_utc('created_at') }} as created_at,
        {{ ctsync_utc('last_modified_at') }} as last_modified_at

    from source

)

select * from renamed
