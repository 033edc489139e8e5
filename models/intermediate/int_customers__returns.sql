{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy='ctsync_replace',
        on_schema_change='fail',
    )
}}
-- depends_on: {{ ref('int_changes__customers') }}
-- Incremental: an incremental build rebuilds the rows of int_changes__customers only.
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
        and {{ ctsync_only_changed('customer_id') }}
    group by customer_id

)

select * from final
