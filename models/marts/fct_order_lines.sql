{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}
-- Incremental by order: a changed order has all its lines replaced (unique_key order_id), so
-- lines removed by an order edit disappear too. Product, category and FX changes reach old
-- lines only with `ctsync build --full-refresh`. The line logic: int_order_lines__enriched.
select * from {{ ref('int_order_lines__enriched') }}
{%- if is_incremental() %}
where order_last_modified_at >= {{ ctsync_incremental_cutoff('order_last_modified_at') }}
{%- endif %}
