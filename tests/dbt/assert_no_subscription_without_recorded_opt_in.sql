-- Nobody is subscribed (list member, or not unsubscribed from a channel / message type)
-- without a recorded opt-in: an opt-in flag without an opt-in time does not count.
select customer_id, iterable_kind, iterable_id
from {{ ref('int_customers__consent') }}
where is_subscribed
    and not has_recorded_opt_in
