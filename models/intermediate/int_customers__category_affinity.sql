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
-- Category affinity: spend (base currency) per category over the `affinity_window_days`
-- before the customer's last order. Anchoring the window on the last order instead of today
-- keeps the result (which Iterable receives) from changing with the clock alone.
with

order_lines as (

    select * from {{ ref('int_order_lines__enriched') }}

),

customer_lines as (

    select
        order_lines.*,
        max(order_lines.ordered_at) over (partition by order_lines.customer_id) as last_ordered_at

    from order_lines
    where order_lines.customer_id is not null
        and {{ ctsync_only_changed('order_lines.customer_id') }}
        and order_lines.is_counted_in_lifetime_value
        and order_lines.category_path is not null

),

windowed_lines as (

    select *
    from customer_lines
    where {{ dbt.datediff('ordered_at', 'last_ordered_at', 'day') }} <= {{ var('affinity_window_days') }}

),

category_spend as (

    select
        customer_id,
        category_path,
        sum(line_total_base_amount) as spend_base_amount,
        sum(quantity) as units

    from windowed_lines
    group by customer_id, category_path

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id
            order by spend_base_amount desc, units desc, category_path
        ) as category_rank

    from category_spend

),

final as (

    select
        customer_id,
        max(case when category_rank = 1 then category_path end) as top_category,
        cast({{ ctsync_json_array_agg_where('category_path', 'category_rank', 'category_rank <= 3') }} as {{ dbt.type_string() }}) as top_categories_json

    from ranked
    group by customer_id

)

select * from final
