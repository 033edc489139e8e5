with

source as (

    {{ ctsync_source('commercetools', 'orders', [
        ['id', 'varchar'],
        ['version', 'bigint'],
        ['order_number', 'varchar'],
        ['customer_id', 'varchar'],
        ['customer_email', 'varchar'],
        ['anonymous_id', 'varchar'],
        ['store__key', 'varchar'],
        ['customer_group__id', 'varchar'],
        ['country', 'varchar'],
        ['locale', 'varchar'],
        ['origin', 'varchar'],
        ['order_state', 'varchar'],
        ['shipment_state', 'varchar'],
        ['payment_state', 'varchar'],
        ['cart__id', 'varchar'],
        ['total_price__currency_code', 'varchar'],
        ['total_price__cent_amount', 'bigint'],
        ['total_price__fraction_digits', 'bigint'],
        ['taxed_price__total_net__cent_amount', 'bigint'],
        ['taxed_price__total_net__fraction_digits', 'bigint'],
        ['taxed_price__total_tax__cent_amount', 'bigint'],
        ['taxed_price__total_tax__fraction_digits', 'bigint'],
        ['shipping_info__shipping_method_name', 'varchar'],
        ['shipping_info__price__cent_amount', 'bigint'],
        ['shipping_info__price__fraction_digits', 'bigint'],
        ['shipping_address__country', 'varchar'],
        ['completed_at', 'timestamp with time zone'],
        ['created_at', 'timestamp with time zone'],
        ['last_modified_at', 'timestamp with time zone'],
    ]) }}

),

renamed as (

    select
        id as order_id,
        version as order_version,
        order_number,
        customer_id,
        customer_email,
        lower(trim(customer_email)) as customer_email_normalized,
        anonymous_id,
        store__key as store_key,
        customer_group__id as customer_group_id,
        upper(coalesce(country, shipping_address__country)) as country_code,
        locale,
        origin,
        order_state,
        shipment_state,
        payment_state,
        cart__id as cart_id,
        total_price__currency_code as currency_code,
        total_price__cent_amount as total_cent_amount,
        total_price__fraction_digits as fraction_digits,
        {{ ctsync_money('total_price__cent_amount', 'total_price__fraction_digits') }} as total_amount,
        {{ ctsync_money('taxed_price__total_net__cent_amount', 'taxed_price__total_net__fraction_digits') }} as total_net_amount,
        {{ ctsync_money('taxed_price__total_tax__cent_amount', 'taxed_price__total_tax__fraction_digits') }} as total_tax_amount,
        shipping_info__shipping_method_name as shipping_method_name,
        {{ ctsync_money('shipping_info__price__cent_amount', 'shipping_info__price__fraction_digits') }} as shipping_amount,
        {{ ctsync_utc('completed_at') }} as completed_at,
        {{ ctsync_utc('created_at') }} as created_at,
        {{ ctsync_utc('last_modified_at') }} as last_modified_at

    from source

)

select * from renamed
