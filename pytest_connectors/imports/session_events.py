"""What a user session's custom events say: the names the app gave their properties, and the
agent conversations they name. Shared by a session provider (which keeps the events that name a
conversation) and by linking (which joins sessions to those conversations)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Property names (after `property_name`) that carry an agent conversation's id.
THREAD_PROPERTIES = frozenset({"thread_id", "threadid", "conversation_id", "conversationid"})

# Custom event properties arrive as ``evt_<name>_<type>`` (FS.event's typed-suffix convention).
_TYPE_SUFFIX = re.compile(r"_(str|int|real|bool|date|obj)s?$")


def property_name(key: str) -> str:
    """``evt_thread_id_str`` -> ``thread_id``: the name the app gave the property."""
    name = key[4:] if key.startswith("evt_") else key
    return _TYPE_SUFFIX.sub("", name) or name


def thread_references(properties: Mapping[str, Any]) -> set[str]:
    """The conversation ids a custom event's properties carry (``thread_id``, ...)."""
    found: set[str] = set()
    for key, value in properties.items():
        if property_name(key).lower() in THREAD_PROPERTIES and isinstance(value, str | int):
            text = str(value).strip()
            if text:
                found.add(text)
    return found
