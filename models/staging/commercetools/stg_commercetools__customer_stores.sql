with

stores as (

    {{ ctsync_source_list('commercetools', 'customers', 'customers__stores', [
        ['key', 'varchar'],
    ]) }}

),

renamed as (

    select
        stores.root_id || ':' || stores."key" as customer_store_id,
        stores.root_id as customer_id,
        stores."key" as store_key,
        stores._dlt_list_idx as store_position

    from stores

)

select * from renamed
