-- A payload must not change with the clock alone (it would resend the whole base every
-- day): no "days since", age or idle-time fields. Those stay in the marts. Checked on what
-- is about to be sent (the `_changes` views), which stays small between full resyncs.
{%- set objects = ['users', 'subscriptions', 'purchases', 'carts', 'events', 'catalog_items', 'user_deletions'] %}
{%- for object in objects %}
select '{{ object }}' as object, record_key
from {{ ref('iterable__' ~ object ~ '_changes') }}
where lower(payload) like '%dayssince%'
    or lower(payload) like '%"age"%'
    or lower(payload) like '%idlehours%'
{% if not loop.last %}union all{% endif %}
{%- endfor %}
