"""pytest fixtures for this sandbox (filled in by the sandbox's owner)."""
