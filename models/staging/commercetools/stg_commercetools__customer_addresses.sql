with

addresses as (

    {{ ctsync_source('commercetools', 'customers__addresses', [
        ['id', 'varchar'],
        ['key', 'varchar'],
        ['country', 'varchar'],
        ['city', 'varchar'],
        ['postal_code', 'varchar'],
        ['region', 'varchar'],
        ['state', 'varchar'],
        ['phone', 'varchar'],
        ['mobile', 'varchar'],
        ['_dlt_root_id', 'varchar'],
        ['_dlt_list_idx', 'bigint'],
    ]) }}

),

customers as (

    {{ ctsync_source('commercetools', 'customers', [['id', 'varchar'], ['_dlt_id', 'varchar']]) }}

),

renamed as (

    select
        customers.id || ':' || coalesce(addresses.id, cast(addresses._dlt_list_idx as {{ dbt.type_string() }})) as customer_address_id,
        customers.id as customer_id,
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
    inner join customers
        on addresses._dlt_root_id = customers._dlt_id

)

select * from renamed
