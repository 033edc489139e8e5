{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}
-- Incremental on the order's lastModifiedAt (returns and state changes move it too).
-- Store, market and FX changes reach old orders only with `ctsync build --full-refresh`.
-- The order logic: int_orders__enriched.
select * from {{ ref('int_orders__enriched') }}
{%- if is_incremental() %}
where last_modified_at >= {{ ctsync_incremental_cutoff('last_modified_at') }}
{%- endif %}
