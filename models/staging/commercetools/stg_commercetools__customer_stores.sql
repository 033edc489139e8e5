with

stores as (

    {{ ctsync_source('commercetools', 'customers__stores', [
        ['key', 'varchar'],
        ['_dlt_root_id', 'varchar'],
        ['_dlt_list_idx', 'bigint'],
    ]) }}

),

customers as (

    {{ ctsync_source('commercetools', 'customers', [['id', 'varchar'], ['_dlt_id', 'varchar']]) }}

),

renamed as (

    select
        customers.id || ':' || stores."key" as customer_store_id,
        customers.id as customer_id,
        stores."key" as store_key,
        stores._dlt_list_idx as store_position

    from stores
    inner join customers
        on stores._dlt_root_id = customers._dlt_id

)

select * from renamed
