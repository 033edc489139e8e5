-- What the sync must send for purchases: see macros/ctsync_iterable.sql (iterable_changes).
{{ config(materialized='view') }}

{{ iterable_changes('purchases') }}
