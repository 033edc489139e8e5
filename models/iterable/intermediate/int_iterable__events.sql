{{
    config(
        materialized='incremental',
        unique_key='record_key',
        incremental_strategy='ctsync_replace',
        on_schema_change='fail',
        ctsync_changes='int_iterable__changed_sources',
        ctsync_replace_by='source_key',
        compressed_text_columns=['record_key', 'source_key', 'payload'],
    )
}}
-- depends_on: {{ ref('int_iterable__changed_sources') }}
-- depends_on: {{ ref('int_changes__since') }}
-- Every custom event (trackBulk `events[]` item), whenever it happened, for the events enabled in the seed
-- iterable_event_catalogue. Every event has a deterministic id (its `record_key`: name +
-- source id, alphanumerics and hyphens) so a resend updates instead of duplicating. Each carries
-- store, currency, language and channel. Events are never removed.
-- Only the events inside the backfill window (int_iterable__backfill_window) carry a payload:
-- the others are history, never sent (iterable__events_skipped counts them, the audit explains
-- them), and their JSON was most of this table.
-- Incremental: each event belongs to one record (`source_key`: customer:<id>, order:<id>,
-- cart:<id>); an incremental build rebuilds the events of int_iterable__changed_sources only,
-- or every event when the backfill window moved since the last build.
{%- set every_source = iterable_backfill_window_has_moved() %}
with

catalogue as (

    select * from {{ ref('iterable_event_catalogue') }}
    where is_enabled

),

customers as (

    select * from {{ ref('dim_customers') }}

),

identities as (

    select * from {{ ref('int_iterable__identities') }}
    where is_resolved

),

orders as (

    select * from {{ ref('fct_orders') }}

),

returns as (

    select * from {{ ref('fct_returns') }}

),

carts as (

    select * from {{ ref('fct_carts') }}

),

order_contacts as (

    select * from {{ ref('int_iterable__contact_identities') }}
    where is_identifiable
        and contact_type = 'order'

),

backfill_window as (

    select * from {{ ref('int_iterable__backfill_window') }}

),

cart_contacts as (

    select * from {{ ref('int_iterable__contact_identities') }}
    where is_identifiable
        and contact_type = 'cart'

),

-- the messages, one import per kind (a CTE read twice is computed whole, before the filters
-- of the changed records)
email_change_messages as (

    select * from {{ ref('stg_commercetools__messages') }}
    where message_type = 'CustomerEmailChanged'

),

order_state_messages as (

    select * from {{ ref('stg_commercetools__messages') }}
    where message_type = 'OrderStateChanged'

),

shipment_state_messages as (

    select * from {{ ref('stg_commercetools__messages') }}
    where message_type = 'OrderShipmentStateChanged'

),

customer_registered as (

    select
        {{ iterable_event_columns('customerRegistered', 'customers.customer_id', 'identities', 'customers', details=[
            ['customerNumber', iterable_text('customers.customer_number')],
            ['customerGroup', iterable_text('customers.customer_group_key')],
        ], occurred_at='customers.created_at', source_updated_at='customers.last_modified_at', store_key='customers.primary_store_key') }},
        'customer:' || customers.customer_id as source_key

    from customers
    inner join identities
        on customers.customer_id = identities.customer_id
    where {{ ctsync_only_changed('customers.customer_id', 'int_iterable__changed_sources', 'source_key', prefix='customer:', everything=every_source) }}

),

customer_email_changed as (

    select
        {{ iterable_event_columns('customerEmailChanged', 'messages.message_id', 'identities', 'customers', details=[
            ['customerNumber', iterable_text('customers.customer_number')],
            ['previousEmail', 'lower(trim(messages.old_email))'],
        ], occurred_at='messages.created_at', source_updated_at='messages.created_at', store_key='customers.primary_store_key') }},
        'customer:' || messages.resource_id as source_key

    from email_change_messages as messages
    inner join identities
        on messages.resource_id = identities.customer_id
    inner join customers
        on messages.resource_id = customers.customer_id
    where {{ ctsync_only_changed('messages.resource_id', 'int_iterable__changed_sources', 'source_key', prefix='customer:', everything=every_source) }}
        and {{ ctsync_only_changed('customers.customer_id', 'int_iterable__changed_sources', 'source_key', prefix='customer:', everything=every_source) }}

),

order_state_changed as (

    select
        {{ iterable_event_columns('orderStateChanged', 'messages.message_id', 'order_contacts', 'orders', details=[
            ['orderId', 'orders.order_id'],
            ['orderNumber', iterable_text('orders.order_number')],
            ['orderState', 'messages.order_state'],
            ['previousOrderState', 'messages.old_order_state'],
        ], occurred_at='messages.created_at', source_updated_at='messages.created_at') }},
        'order:' || orders.order_id as source_key

    from order_state_messages as messages
    inner join orders
        on messages.resource_id = orders.order_id
    inner join order_contacts
        on orders.order_id = order_contacts.contact_id
    where {{ ctsync_only_changed('messages.resource_id', 'int_iterable__changed_sources', 'source_key', prefix='order:', everything=every_source) }}
        and {{ ctsync_only_changed('orders.order_id', 'int_iterable__changed_sources', 'source_key', prefix='order:', everything=every_source) }}

),

shipment_messages as (

    select
        resource_id as order_id,
        min(created_at) as shipped_at

    from shipment_state_messages
    where shipment_state in ('Shipped', 'Delivered')
        and {{ ctsync_only_changed('resource_id', 'int_iterable__changed_sources', 'source_key', prefix='order:', everything=every_source) }}
    group by resource_id

),

order_shipped as (

    select
        {{ iterable_event_columns('orderShipped', 'orders.order_id', 'order_contacts', 'orders', details=[
            ['orderId', 'orders.order_id'],
            ['orderNumber', iterable_text('orders.order_number')],
            ['shippingMethod', iterable_text('orders.shipping_method_name')],
        ], occurred_at='coalesce(shipment_messages.shipped_at, orders.created_at)', source_updated_at='orders.last_modified_at') }},
        'order:' || orders.order_id as source_key

    from orders
    inner join order_contacts
        on orders.order_id = order_contacts.contact_id
    left join shipment_messages
        on orders.order_id = shipment_messages.order_id
    where orders.shipment_state in ('Shipped', 'Delivered')
        and {{ ctsync_only_changed('orders.order_id', 'int_iterable__changed_sources', 'source_key', prefix='order:', everything=every_source) }}

),

order_returned as (

    select
        {{ iterable_event_columns('orderReturned', 'returns.return_item_id', 'order_contacts', 'returns', details=[
            ['orderId', 'returns.order_id'],
            ['orderNumber', iterable_text('returns.order_number')],
            ['productId', 'returns.product_id'],
            ['sku', iterable_text('returns.sku')],
            ['quantity', 'returns.quantity'],
            ['returnedAmount', iterable_number('returns.returned_amount')],
            ['returnTrackingId', iterable_text('returns.return_tracking_id')],
        ], occurred_at='returns.returned_at', source_updated_at='returns.last_modified_at') }},
        'order:' || returns.order_id as source_key

    from returns
    inner join order_contacts
        on returns.order_id = order_contacts.contact_id
    where {{ ctsync_only_changed('returns.order_id', 'int_iterable__changed_sources', 'source_key', prefix='order:', everything=every_source) }}

),

cart_abandoned as (

    -- a cart abandoned again after new activity is a new event: its source id says when
    select
        {{ iterable_event_columns('cartAbandoned', "carts.cart_id || '-' || cast(" ~ ctsync_epoch_seconds('carts.last_modified_at') ~ " as " ~ dbt.type_string() ~ ")", 'cart_contacts', 'carts', details=[
            ['cartId', 'carts.cart_id'],
            ['itemCount', 'carts.unit_count'],
            ['cartTotal', iterable_number('carts.total_amount')],
            ['lastActivityAt', ctsync_iso8601('carts.last_modified_at')],
        ], occurred_at='carts.abandoned_at', source_updated_at='carts.last_modified_at') }},
        'cart:' || carts.cart_id as source_key

    from carts
    inner join cart_contacts
        on carts.cart_id = cart_contacts.contact_id
    where carts.is_abandoned
        and {{ ctsync_only_changed('carts.cart_id', 'int_iterable__changed_sources', 'source_key', prefix='cart:', everything=every_source) }}

),

all_events as (

    select * from customer_registered
    union all
    select * from customer_email_changed
    union all
    select * from order_state_changed
    union all
    select * from order_shipped
    union all
    select * from order_returned
    union all
    select * from cart_abandoned

),

enabled_events as (

    select
        all_events.*,
        all_events.event_name || '-' || all_events.source_id as event_id

    from all_events
    inner join catalogue
        on all_events.event_name = catalogue.event_name

),

in_window as (

    select
        enabled_events.*,
        backfill_window.event_window_start_at is null
            or enabled_events.occurred_at >= backfill_window.event_window_start_at as is_in_window

    from enabled_events
    cross join backfill_window

),

final as (

    select
        event_id as record_key,
        source_key,
        source_updated_at,
        occurred_at,
        case when is_in_window then cast({{ iterable_identified_object('email', 'user_id', [
            ['id', 'event_id'],
            ['eventName', 'event_name'],
        ], [
            ['createdAt', ctsync_epoch_seconds('occurred_at')],
            ['dataFields', ctsync_json_object([
                ['storeKey', 'store_key'],
                ['currency', 'currency_code'],
                ['language', 'language_code'],
                ['channel', 'channel_id'],
                ['details', 'detail_fields'],
            ])],
        ]) }} as {{ dbt.type_string() }}) end as payload

    from in_window

)

select
    cast(record_key as {{ dbt.type_string() }}) as record_key,
    payload,
    -- the person's identity is not part of the hash: an email change moves the profile (and
    -- its events) in Iterable, it is no reason to send the event again
    case when payload is not null then cast({{ dbt.hash(ctsync_json_without_keys('payload', ['email', 'userId'])) }} as {{ dbt.type_string() }}) end as payload_hash,
    cast(source_updated_at as {{ dbt.type_timestamp() }}) as source_updated_at,
    cast(occurred_at as {{ dbt.type_timestamp() }}) as occurred_at,
    cast(source_key as {{ dbt.type_string() }}) as source_key
from final
