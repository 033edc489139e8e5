"""The application: the ``ctsync`` CLI (``ctsync.app.cli``), the job runner, scheduler and
event receiver (``ctsync.app.jobs``), the dbt build (``ctsync.app.transform``), status,
doctor, report, explain, alerts and the demo. It composes the stages below it (``ingest``,
``sync``) and the sandboxes; nothing below imports it.
"""
