{{ config(tags=['full_build_only']) }}
-- Every source record that could become something in Iterable ends in exactly one state per
-- object (delivered, rejected, not_sent or pending): a record missing from
-- audit__record_outcomes, present with no outcome, or present twice for one object, is
-- returned (and fails the build). The objects: customers → users, consent decisions →
-- subscriptions, orders → purchases, carts → carts, events → events, products → catalog
-- items, deleted customers → user_deletions.
-- Checks the whole base: full builds run it; a job's selective build does not
-- (app/jobs/selection.py FULL_BUILD_ONLY), its data tests check the rows it rebuilt.
with

outcomes as (

    select * from {{ ref('audit__record_outcomes') }}

),

expected as (

    select 'users' as object, customer_id as source_id from {{ ref('stg_commercetools__customers') }}
    union all
    select 'purchases' as object, order_id as source_id from {{ ref('fct_orders') }}
    union all
    select 'carts' as object, cart_id as source_id from {{ ref('fct_carts') }}
    union all
    select 'catalog_items' as object, product_id as source_id from {{ ref('dim_products') }}
    union all
    select 'subscriptions' as object, record_key as source_id from {{ ref('int_consent__decisions') }}
    union all
    select 'events' as object, record_key as source_id from {{ ref('int_iterable__events') }}
    union all
    select 'user_deletions' as object, customer_id as source_id from {{ ref('int_customers__deleted') }}

)

select expected.object, expected.source_id, 'no outcome row' as problem
from expected
left join outcomes
    on expected.object = outcomes.object
    and expected.source_id = outcomes.source_id
where outcomes.source_id is null

union all

select object, source_id, 'outcome is null: no rule accounts for this record' as problem
from outcomes
where outcome is null

union all

select object, source_id, 'more than one outcome for one object' as problem
from outcomes
group by object, source_id
having count(*) > 1
