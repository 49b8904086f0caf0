"""The schema's history: one module per released step, each a frozen description of its change.

A step never imports :mod:`pytest_connectors.storage.schema`: the live tables move on, and a
database made by an earlier version must be upgraded by the very step that version would have run.
A released step is never edited; a change to the schema is a new module appended to
:data:`pytest_connectors.storage.migrations.MIGRATIONS`.
"""
