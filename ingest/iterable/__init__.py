"""Iterable as a second source: what Iterable holds about consent, loaded into
``raw_iterable`` with dlt (``ctsync.ingest.iterable.source``, run by
``ctsync.ingest.iterable.pipeline``)."""
