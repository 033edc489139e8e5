{{ config(materialized='view') }}
-- One row per order. The order logic, and the incremental rebuild of changed orders only:
-- int_orders__enriched (a table); this view is what analysts and the Iterable models read.
select * from {{ ref('int_orders__enriched') }}
