-- Every consent decision with its inputs and reason (see README "Consent"): one row per
-- person and subscription group a consent rule covers. The columns are the decisions',
-- less the group itself (`iterable_id` names it) and the sync's own bookkeeping.
select
    {{- ctsync_star_except(ref('int_consent__decisions'), [
        'subscription_group',
        'subscription_policy',
        'acknowledged_at',
        'is_new_to_iterable',
        'source_updated_at',
    ]) }}

from {{ ref('int_consent__decisions') }}
