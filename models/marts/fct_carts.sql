-- One row per cart with its status. The cart logic: int_carts__enriched, a table rebuilt
-- whenever carts, orders or the clock change; this mart is a view of it, not a second copy
-- written by every such build.
{{ config(materialized='view') }}
select * from {{ ref('int_carts__enriched') }}
