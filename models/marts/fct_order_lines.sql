{{ config(materialized='view') }}
-- One row per line item of an order. The line logic, and the incremental rebuild of changed
-- orders only (an order edit that removes a line removes its row): int_order_lines__enriched
-- (a table); this view is what analysts and the Iterable models read.
select * from {{ ref('int_order_lines__enriched') }}
