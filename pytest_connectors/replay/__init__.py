"""Production conversations replayed as test cases, compared turn by turn with what production did.

pytest-free: ``case`` and ``frozen`` hold the cases and their JSON files, ``where`` selects them,
``runner`` replays them against a connector (or audits the recorded outputs), ``compare`` judges
the outcome, ``redact`` scrubs them before anything is written, ``native`` turns a test
session's own calls into conversations for the database.
"""
