with

source as (

    {{ ctsync_source('commercetools', 'carts', [
        ['id', 'varchar'],
        ['version', 'bigint'],
        ['customer_id', 'varchar'],
        ['customer_email', 'varchar'],
        ['anonymous_id', 'varchar'],
        ['store__key', 'varchar'],
        ['country', 'varchar'],
        ['locale', 'varchar'],
        ['origin', 'varchar'],
        ['cart_state', 'varchar'],
        ['total_line_item_quantity', 'bigint'],
        ['total_price__currency_code', 'varchar'],
        ['total_price__cent_amount', 'bigint'],
        ['total_price__fraction_digits', 'bigint'],
        ['created_at', 'timestamp with time zone'],
        ['last_modified_at', 'timestamp with time zone'],
    ]) }}

),

renamed as (

    select
        id as cart_id,
        version as cart_version,
        customer_id,
        customer_email,
        lower(trim(customer_email)) as customer_email_normalized,
        anonymous_id,
        store__key as store_key,
        upper(country) as country_code,
        locale,
        origin,
        cart_state,
        coalesce(total_line_item_quantity, 0) as total_line_item_quantity,
        total_price__currency_code as currency_code,
        {{ ctsync_money('total_price__cent_amount', 'total_price__fraction_digits') }} as total_amount,
        {{ ctsync_utc('created_at') }} as created_at,
        {{ ctsync_utc('last_modified_at') }} as last_modified_at

    from source

)

select * from renamed
