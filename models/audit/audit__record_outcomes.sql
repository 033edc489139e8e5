{{ config(schema='audit', materialized='view') }}
-- Every source record that could become something in Iterable, with exactly one outcome per
-- Iterable object: `delivered` (Iterable acknowledged the current payload), `rejected` (by
-- the models or by Iterable / the sync's validation, with the reason), `not_sent` (on
-- purpose, with the reason) or `pending` (desired and not acknowledged yet: before the next
-- sync, or after a transient failure). A view over the ledger, so it is current after every
-- sync without a rebuild. The outcome has no fallback branch on purpose: a record no rule
-- accounts for gets a null outcome, and the test assert_every_record_has_an_outcome fails.
with

customers as (

    select * from {{ ref('stg_commercetools__customers') }}

),

deleted_customers as (

    select * from {{ ref('int_customers__deleted') }}

),

identities as (

    select * from {{ ref('int_iterable__identities') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

carts as (

    select * from {{ ref('fct_carts') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

contacts as (

    select * from {{ ref('int_iterable__contact_identities') }}

),

model_rejections as (

    select * from {{ ref('iterable__rejections') }}

),

desired as (

    select 'users' as object, record_key, payload_hash from {{ ref('iterable__users') }}
    union all
    select 'purchases' as object, record_key, payload_hash from {{ ref('iterable__purchases') }}
    union all
    select 'carts' as object, record_key, payload_hash from {{ ref('iterable__carts') }}
    union all
    select 'catalog_items' as object, record_key, payload_hash from {{ ref('iterable__catalog_items') }}
    union all
    select 'subscriptions' as object, record_key, payload_hash from {{ ref('iterable__subscriptions') }}
    union all
    select 'events' as object, record_key, payload_hash from {{ ref('iterable__events') }}
    union all
    select 'user_deletions' as object, record_key, payload_hash from {{ ref('iterable__user_deletions') }}

),

consent_decisions as (

    select * from {{ ref('int_consent__decisions') }}

),

events as (

    select * from {{ ref('int_iterable__events') }}

),

backfill_window as (

    select * from {{ ref('int_iterable__backfill_window') }}

),

user_deletions as (

    select * from {{ ref('int_iterable__user_deletions') }}

),

ledger as (

    select * from {{ source('ctsync', 'sync_ledger') }}

),

sync_rejections as (

    -- the latest open rejection per record
    select *
    from (
        select
            *,
            row_number() over (
                partition by object, record_key order by last_seen_at desc, first_seen_at desc
            ) as rejection_rank
        from {{ source('ctsync', 'sync_rejections') }}
        where resolved_at is null
    ) as open_rejections
    where rejection_rank = 1

),

all_customers as (

    select customer_id, last_modified_at as source_updated_at from customers
    union
    select customer_id, deleted_at as source_updated_at from deleted_customers
    where customer_id not in (select customer_id from customers)

),

user_candidates as (

    select
        'users' as object,
        'customer' as source_type,
        all_customers.customer_id as source_id,
        identities.record_key,
        {{- ctsync_outcome_columns([
            [
                'deleted_customers.customer_id is not null', "'not_sent'", "'customer_deleted'",
                "'deleted in commercetools: removed from Iterable by user_deletions'",
            ],
            [
                'model_rejections.record_key is not null', "'rejected'",
                'model_rejections.reason_code', 'model_rejections.reason_detail',
            ],
        ], prefix='decided_') }}

    from all_customers
    left join deleted_customers
        on all_customers.customer_id = deleted_customers.customer_id
    left join identities
        on all_customers.customer_id = identities.customer_id
        and identities.is_resolved
    left join model_rejections
        on model_rejections.object = 'users'
        and model_rejections.record_key = 'customer:' || all_customers.customer_id

),

order_lines_present as (

    -- product lines or custom line items (fees, gift wrap, services): both are items
    select order_id from {{ ref('fct_order_lines') }}
    union
    select order_id from {{ ref('stg_commercetools__order_custom_line_items') }}

),

purchase_candidates as (

    select
        'purchases' as object,
        'order' as source_type,
        orders.order_id as source_id,
        orders.order_id as record_key,
        {{- ctsync_outcome_columns([
            [
                'not orders.is_counted_in_lifetime_value', "'not_sent'", "'order_cancelled'",
                "'cancelled orders are not purchases'",
            ],
            [
                "contacts.rejection_reason_code = 'customer_deleted'", "'not_sent'",
                "'customer_deleted'", 'contacts.rejection_detail',
            ],
            [
                'model_rejections.record_key is not null', "'rejected'",
                'model_rejections.reason_code', 'model_rejections.reason_detail',
            ],
            [
                'order_lines_present.order_id is null', "'not_sent'", "'order_without_line_items'",
                "'the order has no line items at all (no product, no custom line item): no purchase'",
            ],
        ], prefix='decided_') }}

    from orders
    left join contacts
        on contacts.contact_type = 'order'
        and orders.order_id = contacts.contact_id
    left join model_rejections
        on model_rejections.object = 'purchases'
        and model_rejections.record_key = orders.order_id
    left join order_lines_present
        on orders.order_id = order_lines_present.order_id

),

ranked_carts as (

    -- the same choice iterable__carts makes: Iterable holds one cart per user, the latest
    select
        carts.*,
        contacts.is_identifiable,
        contacts.rejection_reason_code as contact_reason_code,
        contacts.rejection_detail as contact_reason_detail,
        coalesce(contacts.user_id, contacts.email) as user_key,
        row_number() over (
            partition by
                case when contacts.is_identifiable and carts.is_open_with_items
                    then coalesce(contacts.user_id, contacts.email) else carts.cart_id end
            order by carts.last_modified_at desc, carts.cart_id
        ) as cart_rank

    from carts
    left join contacts
        on contacts.contact_type = 'cart'
        and carts.cart_id = contacts.contact_id

),

cart_candidates as (

    select
        'carts' as object,
        'cart' as source_type,
        ranked_carts.cart_id as source_id,
        case when ranked_carts.is_identifiable then ranked_carts.user_key end as record_key,
        {{- ctsync_outcome_columns([
            ['ranked_carts.is_ordered', "'not_sent'", "'cart_ordered'", "'the cart became an order'"],
            [
                "ranked_carts.cart_state <> 'Active'", "'not_sent'",
                "'cart_' || lower(ranked_carts.cart_state)", "'cart state ' || ranked_carts.cart_state",
            ],
            ['ranked_carts.line_count = 0', "'not_sent'", "'cart_empty'", "'the cart has no line items'"],
            [
                "ranked_carts.contact_reason_code = 'customer_deleted'", "'not_sent'",
                "'customer_deleted'", 'ranked_carts.contact_reason_detail',
            ],
            [
                "ranked_carts.contact_reason_code = 'guest_without_email'", "'not_sent'",
                "'anonymous_cart'", "'anonymous cart without an email: nobody to address yet'",
            ],
            [
                'model_rejections.record_key is not null', "'rejected'",
                'model_rejections.reason_code', 'model_rejections.reason_detail',
            ],
            [
                'ranked_carts.cart_rank > 1', "'not_sent'", "'superseded_by_newer_cart'",
                "'Iterable holds one cart per user: a newer open cart of the same user is sent'",
            ],
        ], prefix='decided_') }}

    from ranked_carts
    left join model_rejections
        on model_rejections.object = 'carts'
        and model_rejections.record_key = 'cart:' || ranked_carts.cart_id

),

catalog_candidates as (

    select
        'catalog_items' as object,
        'product' as source_type,
        product_id as source_id,
        product_id as record_key,
        {{- ctsync_outcome_columns([
            [
                'not is_published', "'not_sent'", "'product_unpublished'",
                "'only published products are catalog items'",
            ],
        ], prefix='decided_') }}

    from products

),

subscription_candidates as (

    -- one source record per person and subscription group of the consent rules; a decision
    -- Iterable already holds needs no write: delivered when ctsync wrote it before, else
    -- not sent because Iterable held it already
    select
        'subscriptions' as object,
        'consent_decision' as source_type,
        consent_decisions.record_key as source_id,
        consent_decisions.record_key,
        {{- ctsync_outcome_columns([
            ['consent_decisions.needs_write', none, none, none],
            ['ledger.record_key is not null', "'delivered'", none, none],
            [
                none, "'not_sent'", "'iterable_holds_decision'",
                "'Iterable already holds the decided state ('
                || case when consent_decisions.is_subscribed then 'subscribed' else 'unsubscribed' end
                || ', ' || consent_decisions.decision_reason || '): nothing to write'",
            ],
        ], prefix='decided_') }}

    from consent_decisions
    left join ledger
        on ledger.object = 'subscriptions'
        and consent_decisions.record_key = ledger.record_key

),

event_candidates as (

    -- events before the first sync's backfill window are history and never sent (an event
    -- sent before the window existed stays delivered)
    select
        'events' as object,
        'event' as source_type,
        events.record_key as source_id,
        events.record_key,
        {{- ctsync_outcome_columns([
            [
                'backfill_window.event_window_start_at is null
                or events.occurred_at >= backfill_window.event_window_start_at',
                none, none, none,
            ],
            ['ledger.record_key is not null', "'delivered'", none, none],
            [
                none, "'not_sent'", "'before_backfill_window'",
                "'the event happened before the backfill window (var event_backfill_days) of the '
                || 'first sync: history is not sent, so no journey fires for the past'",
            ],
        ], prefix='decided_') }}

    from events
    cross join backfill_window
    left join ledger
        on ledger.object = 'events'
        and events.record_key = ledger.record_key

),

user_deletion_candidates as (

    -- one source record per customer deleted in commercetools
    select
        'user_deletions' as object,
        'customer' as source_type,
        deleted_customers.customer_id as source_id,
        user_deletions.record_key,
        {{- ctsync_outcome_columns([
            [
                'user_deletions.record_key is null', "'not_sent'", "'no_separate_deletion'",
                "'no Iterable identity is known for this deleted customer, or another deleted '
                || 'customer with the same identity carries the one deletion'",
            ],
            [
                'model_rejections.record_key is not null', "'rejected'",
                'model_rejections.reason_code', 'model_rejections.reason_detail',
            ],
        ], prefix='decided_') }}

    from deleted_customers
    left join user_deletions
        on deleted_customers.customer_id = user_deletions.customer_id
    left join model_rejections
        on model_rejections.object = 'user_deletions'
        and model_rejections.record_key = user_deletions.record_key

),

candidates as (

    select * from user_candidates
    union all
    select * from subscription_candidates
    union all
    select * from event_candidates
    union all
    select * from user_deletion_candidates
    union all
    select * from purchase_candidates
    union all
    select * from cart_candidates
    union all
    select * from catalog_candidates

),

final as (

    select
        candidates.object || ':' || candidates.source_type || ':' || candidates.source_id as outcome_id,
        candidates.object,
        candidates.source_type,
        candidates.source_id,
        candidates.record_key,
        -- no `else`: an unaccounted record stays null and fails the test
        {{- ctsync_outcome_columns([
            [
                'candidates.decided_outcome is not null', 'candidates.decided_outcome',
                'candidates.decided_reason_code', 'candidates.decided_reason_detail',
            ],
            ['desired.record_key is null', none, none, none],
            [
                "ledger.operation = 'upsert' and ledger.payload_hash = desired.payload_hash",
                "'delivered'", none, none,
            ],
            [
                'sync_rejections.record_key is not null and sync_rejections.replay_requested_at is not null',
                "'pending'", "'replay_requested'", 'sync_rejections.reason_detail',
            ],
            [
                "sync_rejections.record_key is not null
                and sync_rejections.reason_code not in ('" ~ var('ctsync_transient_reasons') | join("', '") ~ "')",
                "'rejected'", 'sync_rejections.reason_code', 'sync_rejections.reason_detail',
            ],
            [
                'sync_rejections.record_key is not null', "'pending'",
                'sync_rejections.reason_code', 'sync_rejections.reason_detail',
            ],
            [
                'desired.record_key is not null', "'pending'", "'awaiting_sync'",
                "'desired and not acknowledged by Iterable yet: the next sync sends it'",
            ],
        ]) }},
        ledger.acknowledged_at,
        ledger.run_id as acknowledged_run_id,
        sync_rejections.last_run_id as rejected_run_id

    from candidates
    left join desired
        on candidates.object = desired.object
        and candidates.record_key = desired.record_key
        and candidates.decided_outcome is null
    left join ledger
        on candidates.object = ledger.object
        and candidates.record_key = ledger.record_key
        and (candidates.decided_outcome is null or candidates.decided_outcome = 'delivered')
    left join sync_rejections
        on candidates.decided_outcome is null
        and candidates.object = sync_rejections.object
        and candidates.record_key = sync_rejections.record_key
        and (sync_rejections.payload_hash is null or sync_rejections.payload_hash = desired.payload_hash)

)

select * from final
