-- One row per cart with its status. The cart logic: int_carts__enriched.
select * from {{ ref('int_carts__enriched') }}
