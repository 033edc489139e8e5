-- What the sync must send for user_deletions: see macros/ctsync_iterable.sql (iterable_changes).
{{ config(materialized='view') }}

{{ iterable_changes('user_deletions') }}
