with

addresses as (

    {{ ctsync_source_list('commercetools', 'customers', 'customers__addresses', [
        ['id', 'varchar'],
        ['key', 'varchar'],
        ['country', 'varchar'],
        ['city', 'varchar'],
        ['postal_code', 'varchar'],
        ['region', 'varchar'],
        ['state', 'varchar'],
        ['phone', 'varchar'],
        ['mobile', 'varchar'],
    ]) }}

),

renamed as (

    select
        addresses.root_id || ':' || coalesce(addresses.id, cast(addresses._dlt_list_idx as {{ dbt.type_string() }})) as customer_address_id,
        addresses.root_id as customer_id,
        addresses.id as address_id,
        addresses."key" as address_key,
        addresses._dlt_list_idx as address_position,
        upper(addresses.country) as country_code,
        addresses.city,
        addresses.postal_code,
        addresses.region,
        addresses.state,
        addresses.phone,
        addresses.mobile

    from addresses

)

select * from renamed
