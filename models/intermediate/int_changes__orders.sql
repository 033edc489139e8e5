{{ config(materialized='table', tags=['ctsync_changes']) }}
-- The orders whose rows in the order models that rebuild only what changed
-- (int_order_lines__enriched, int_orders__enriched, int_returns__valued: config
-- ctsync_changes='int_changes__orders') may differ from what the last dbt build that
-- succeeded made of them (int_changes__since):
--   * orders a later dlt load wrote (int_changes__records; their line items and returns are
--     child rows, rewritten with the order), and orders their messages name;
--   * orders found deleted by id reconciliation since (their rows go);
--   * every order when int_changes__since says everything changed (reference data, a
--     store's market, no earlier build).
-- A table, computed once per build; every selective build of a job rebuilds it (tag
-- `ctsync_changes`, app/jobs/selection.py), before the models that read it.
with

changed_records as (

    select * from {{ ref('int_changes__records') }}

),

orders as (

    select * from {{ ref('stg_commercetools__orders') }}

),

messages as (

    select * from {{ ref('stg_commercetools__messages') }}

),

reconciled as (

    select * from {{ ref('stg_commercetools__reconciled_deletions') }}
    where resource_type_id = 'order'

),

since as (

    select * from {{ ref('int_changes__since') }}

),

changed as (

    select record_id as order_id
    from changed_records
    where table_name = 'orders'

    union

    select messages.resource_id as order_id
    from changed_records
    inner join messages
        on changed_records.record_id = messages.message_id
    where changed_records.table_name = 'messages'
        and messages.resource_type_id = 'order'

    union

    select reconciled.resource_id as order_id
    from reconciled
    cross join since
    where reconciled.detected_at > since.changed_at

),

final as (

    select changed.order_id
    from changed
    cross join since
    where not since.is_everything

    union

    select orders.order_id
    from orders
    cross join since
    where since.is_everything

)

select order_id from final
where order_id is not null
