-- What the sync must send for events: see macros/ctsync_iterable.sql (iterable_changes).
{{ config(materialized='view') }}

{{ iterable_changes('events', idempotency='event_id') }}
