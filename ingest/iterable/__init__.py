"""Iterable as a second source: what Iterable holds about consent, loaded into
``raw_iterable`` with dlt (``ingest.iterable.source``, run by ``ingest.iterable.pipeline``)."""
