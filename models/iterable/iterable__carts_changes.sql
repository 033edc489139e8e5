-- What the sync must send for carts: see macros/ctsync_iterable.sql (iterable_changes).
{{ config(materialized='view') }}

{{ iterable_changes('carts', supports_removal=true) }}
