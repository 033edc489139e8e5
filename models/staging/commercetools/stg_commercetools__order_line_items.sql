-- One row per line item of an order: see macros/ctsync_staging.sql.
{{ ctsync_stage_line_items('order') }}
