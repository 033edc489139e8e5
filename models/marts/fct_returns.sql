{{ config(materialized='view') }}
-- One row per returned item, valued at what the customer paid per unit on the returned line.
-- The logic, and the incremental rebuild of changed orders only: int_returns__valued (a
-- table); this view is what analysts read.
select * from {{ ref('int_returns__valued') }}
