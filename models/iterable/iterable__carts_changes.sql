-- What the sync must send for carts: see macros/ctsync_iterable.sql (iterable_changes).
-- No empty cart for a user deleted in commercetools or moved to a new email: updateCart
-- would re-create the profile.
{{ config(materialized='view') }}

{{ iterable_changes('carts', supports_removal=true, removal_handled_by='iterable__user_deletions', removal_needs_live_user=true) }}
