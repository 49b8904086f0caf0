"""Authentication headers as the connector's auth type asks for them."""

from __future__ import annotations

import base64
import binascii

from pytest_connectors.models.connector import AuthType


def _looks_base64(value: str) -> bool:
    try:
        return ":" in base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False


def basic_credentials(value: str) -> str:
    """``user:password`` is encoded; a value that is already base64 of one is sent as is."""
    if ":" in value or not _looks_base64(value):
        return base64.b64encode(value.encode()).decode()
    return value


def auth_headers(auth_type: AuthType | None, value: str | None) -> dict[str, str]:
    if not value or auth_type in (None, AuthType.NONE):
        return {}
    if auth_type is AuthType.API_KEY:
        return {"X-API-Key": value}
    if auth_type is AuthType.BEARER:
        return {"Authorization": f"Bearer {value}"}
    return {"Authorization": f"Basic {basic_credentials(value)}"}
