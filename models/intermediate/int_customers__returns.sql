with

returns as (

    select * from {{ ref('int_returns__valued') }}

),

final as (

    select
        customer_id,
        count(*) as returned_item_count,
        sum(quantity) as returned_units,
        -- null, not a partial sum, when a returned line's currency has no FX rate
        case when count(returned_base_amount) = count(*)
            then cast(sum(returned_base_amount) as decimal(18, 2))
        end as returned_base_amount

    from returns
    where customer_id is not null
    group by customer_id

)

select * from final
