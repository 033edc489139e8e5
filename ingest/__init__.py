"""Ingest: commercetools → ``raw_commercetools`` in the DuckDB warehouse, with dlt.

``ctsync.ingest.pipeline.run_ingest`` runs it; ``ctsync.ingest.commercetools`` holds the source, its
HTTP
client and the one definition of the raw tables (``ctsync.ingest.commercetools.schema``).
"""
