-- Nobody is decided subscribed to a group unless a recorded opt-in (commercetools or
-- Iterable) newer than every opt-out decides it, or Iterable owns the group; complaints and
-- hard bounces are never overridden.
select record_key
from {{ ref('int_consent__decisions') }}
where is_subscribed
    and (
        decision_reason not in ('commercetools_opt_in', 'iterable_opt_in', 'iterable_owned')
        or complained_at is not null
        or hard_bounced_at is not null
        or (decision_reason = 'commercetools_opt_in'
            and commercetools_opt_in_at <= coalesce(iterable_opt_out_at, cast('1900-01-01' as timestamp)))
        or (decision_reason = 'iterable_opt_in'
            and iterable_opt_in_at <= coalesce(iterable_opt_out_at, cast('1900-01-01' as timestamp)))
    )
