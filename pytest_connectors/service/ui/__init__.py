"""The service's pages for people: sign in with an API key, then the import connectors, their
jobs and the conversations, in a browser.

Server-rendered Jinja2 templates with autoescape and the HTML report's stylesheet; no front-end
build, one small same-origin script (the job page's progress bar). ``install`` adds the pages to
the service's app, at ``/`` and under ``/ui/``.
"""

from __future__ import annotations

from fastapi import FastAPI

from pytest_connectors.service.ui.pages import router
from pytest_connectors.service.ui.sessions import SessionTable
from pytest_connectors.storage.store import Store

__all__ = ["install"]


def install(app: FastAPI, store: Store) -> None:
    """The pages, their sign-in sessions kept in ``store``: shared by every process on it."""
    app.state.ui_sessions = SessionTable(store)
    app.include_router(router)
