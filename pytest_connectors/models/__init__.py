"""Pydantic schemas of the package's records; no I/O happens here."""
