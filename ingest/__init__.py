"""Ingest: commercetools → ``raw_commercetools`` in the DuckDB warehouse, with dlt.

``ingest.pipeline.run_ingest`` runs it; ``ingest.commercetools`` holds the source, its HTTP
client and the one definition of the raw tables (``ingest.commercetools.schema``).
"""
