-- What the sync must send for users: see macros/ctsync_iterable.sql (iterable_changes).
{{ config(materialized='view') }}

{{ iterable_changes('users', supports_removal=true, removal_handled_by='iterable__user_deletions') }}
