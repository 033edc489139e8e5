-- Every consent decision with its inputs and reason (see README "Consent"): one row per
-- person and subscription group a consent rule covers.
select
    record_key,
    person_key,
    email,
    user_id,
    customer_id,
    is_guest,
    consent_attribute,
    iterable_kind,
    iterable_id,
    source_of_truth,
    commercetools_opt_in_at,
    commercetools_opt_out_at,
    iterable_opt_in_at,
    iterable_opt_out_at,
    complained_at,
    hard_bounced_at,
    is_held_by_iterable,
    read_back_at,
    is_subscribed_in_iterable,
    decision_reason,
    decided_by_choice_at,
    is_subscribed,
    needs_write

from {{ ref('int_consent__decisions') }}
