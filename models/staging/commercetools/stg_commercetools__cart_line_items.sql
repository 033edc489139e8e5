-- One row per line item of a cart: see macros/ctsync_staging.sql.
{{ ctsync_stage_line_items('cart') }}
