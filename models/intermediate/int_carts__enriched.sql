-- Carts with their status: the shared cart logic that fct_carts and dim_customers read.
-- `abandoned`: an active cart with items, idle longer than `abandoned_cart_idle_hours`, that
-- no order came from. Ordering a cart clears it.
with

carts as (

    select * from {{ ref('stg_commercetools__carts') }}

),

cart_line_items as (

    select * from {{ ref('stg_commercetools__cart_line_items') }}

),

orders as (

    select * from {{ ref('stg_commercetools__orders') }}

),

markets as (

    select * from {{ ref('int_stores__markets') }}

),

line_totals as (

    select
        cart_id,
        count(*) as line_count,
        sum(quantity) as unit_count

    from cart_line_items
    group by cart_id

),

ordered_carts as (

    select distinct cart_id
    from orders
    where cart_id is not null

),

measured as (

    select
        carts.*,
        coalesce(line_totals.line_count, 0) as line_count,
        coalesce(line_totals.unit_count, 0) as unit_count,
        ordered_carts.cart_id is not null or carts.cart_state = 'Ordered' as is_ordered,
        ({{ dbt.datediff('carts.last_modified_at', ctsync_now(), 'second') }} / 3600.0) as idle_hours,
        markets.language_code as store_language_code,
        markets.channel_id

    from carts
    left join line_totals
        on carts.cart_id = line_totals.cart_id
    left join ordered_carts
        on carts.cart_id = ordered_carts.cart_id
    left join markets
        on carts.store_key = markets.store_key

),

final as (

    select
        cart_id,
        customer_id,
        customer_email_normalized,
        anonymous_id,
        store_key,
        country_code,
        locale,
        coalesce({{ ctsync_language_code('locale') }}, store_language_code) as language_code,
        channel_id,
        cart_state,
        line_count,
        unit_count,
        line_count > 0 as has_items,
        currency_code,
        total_amount,
        is_ordered,
        cast(idle_hours as decimal(18, 2)) as idle_hours,
        case
            when is_ordered then 'ordered'
            when cart_state <> 'Active' then lower(cart_state)
            when line_count > 0 and idle_hours > {{ var('abandoned_cart_idle_hours') }} then 'abandoned'
            else 'active'
        end as cart_status,
        cart_state = 'Active' and not is_ordered and line_count > 0 as is_open_with_items,
        not is_ordered and cart_state = 'Active' and line_count > 0
            and idle_hours > {{ var('abandoned_cart_idle_hours') }} as is_abandoned,
        -- when it became abandoned: fixed by the cart's own history, never by the clock
        {{ dbt.dateadd('hour', var('abandoned_cart_idle_hours'), 'last_modified_at') }} as abandoned_at,
        created_at,
        last_modified_at

    from measured

)

select * from final
