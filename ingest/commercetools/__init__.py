"""The commercetools dlt source.

- ``schema``: raw table names, endpoints, keys, JSON columns, nesting; ``load_documents``.
- ``client``: OAuth2 (HTTP Basic) client credentials, retries, keyset paging on httpx.
- ``source``: configuration (``sources.commercetools.*``) and the incremental resources.
"""
