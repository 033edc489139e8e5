-- One row per returned item, valued at what the customer paid per unit on the returned line
-- (int_returns__valued).
select * from {{ ref('int_returns__valued') }}
