"""Foundations every layer shares: configuration, the warehouse, retries, redaction, the run
lock, the console, where the dbt project is, and the shared names and types.

``ctsync.core`` imports nothing else of ctsync (tests/test_layers.py holds the order).
"""
