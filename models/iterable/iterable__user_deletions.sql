-- Desired Iterable user deletions: customers deleted in commercetools whose identity no
-- live customer holds (see int_iterable__user_deletions). The payload_hash covers the
-- deletion time, so a second deletion of the same identity is sent again.
with

deletions as (

    select * from {{ ref('int_iterable__user_deletions') }}

),

final as (

    select
        record_key,
        payload,
        payload_hash,
        source_updated_at

    from deletions
    where not is_held_by_live_customer

)

select * from final
