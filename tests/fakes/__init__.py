"""Fixtures serving the package's provider fakes (`pytest_connectors.fakes`), and a provider
that attacks the sync (`hostile`)."""
