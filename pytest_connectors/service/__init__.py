"""The connectors service: the import-connector facade over HTTP, behind scoped API keys.

The only part of the package that imports the web framework (FastAPI, Starlette); installed with
the ``[server]`` extra. Nothing else imports it: the library and the pytest plugin stay light.
``create_app`` builds the ASGI app; ``pytest-connectors serve`` runs it under uvicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from pytest_connectors.service.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    from pytest_connectors.service.app import create_app as create_app
