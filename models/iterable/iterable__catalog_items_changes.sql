-- What the sync must send for catalog_items: see macros/ctsync_iterable.sql (iterable_changes).
{{ config(materialized='view') }}

{{ iterable_changes('catalog_items', supports_removal=true) }}
