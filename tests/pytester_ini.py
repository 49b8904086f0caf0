"""The ini every pytester-driven plugin test starts from: strict asyncio, warnings as errors."""

from __future__ import annotations

import pytest

INI = """
[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
filterwarnings =
    error
    ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning
{extra}
"""


def write_ini(pytester: pytest.Pytester, extra: str = "") -> None:
    pytester.makeini(INI.format(extra=extra))
