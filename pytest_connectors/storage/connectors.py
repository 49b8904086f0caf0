"""Import connectors in the database. Records come back with their config as stored (the
``apiKey`` unmasked): masking is the caller's job when it shows them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from pytest_connectors.errors import DuplicateImportConnectorError, InvalidInputError
from pytest_connectors.models.imports import ImportConnector, Scope
from pytest_connectors.storage.schema import (
    conversations,
    import_connectors,
    import_jobs,
    imported_traces,
    session_links,
    user_sessions,
)
from pytest_connectors.storage.scoping import (
    check_may_write,
    scope_params,
    scope_shape,
    within,
    within_bound,
)

_T = import_connectors


def to_connector(row: Row[Any]) -> ImportConnector:
    data = row._mapping
    return ImportConnector(
        id=data["id"],
        tenant_id=data["tenant_id"],
        agent_id=data["agent_id"],
        name=data["name"],
        category=data["category"],
        provider=data["provider"],
        config=dict(data["config"] or {}),
        status=data["status"],
        last_synced_at=data["last_synced_at"],
        last_error=data["last_error"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
    )


def _values(connector: ImportConnector) -> dict[str, Any]:
    return {
        "id": connector.id,
        "tenant_id": connector.tenant_id,
        "agent_id": connector.agent_id,
        "name": connector.name,
        "category": connector.category.value,
        "provider": connector.provider,
        "config": connector.config,
        "status": connector.status.value,
        "last_synced_at": connector.last_synced_at,
        "last_error": connector.last_error,
        "created_at": connector.created_at,
        "updated_at": connector.updated_at,
    }


def _name_taken(
    connection: Connection, owner: ImportConnector, name: str, except_id: str | None
) -> bool:
    query = select(_T.c.id).where(
        _T.c.tenant_id == owner.tenant_id, _T.c.agent_id == owner.agent_id, _T.c.name == name
    )
    if except_id is not None:
        query = query.where(_T.c.id != except_id)
    return connection.execute(query.limit(1)).first() is not None


def insert(connection: Connection, scope: Scope, connector: ImportConnector) -> ImportConnector:
    check_may_write(scope, connector.tenant_id, connector.agent_id)
    if _name_taken(connection, connector, connector.name, None):
        raise DuplicateImportConnectorError(connector.name, connector.agent_id)
    try:
        connection.execute(_T.insert().values(**_values(connector)))
    except IntegrityError:  # created by someone else since the check
        raise DuplicateImportConnectorError(connector.name, connector.agent_id) from None
    return connector


@cache
def _by_id(tenant: bool, agent: bool, for_update: bool) -> Select[Any]:
    # Built once per scope shape: building a statement costs more than running it (the
    # service's GET /api/connectors/{id} is this query).
    query = select(_T).where(
        _T.c.id == bindparam("connector_id"), within_bound(_T, tenant=tenant, agent=agent)
    )
    return query.with_for_update() if for_update else query


@cache
def _listing(tenant: bool, agent: bool, by_agent: bool) -> Select[Any]:
    query = select(_T).where(within_bound(_T, tenant=tenant, agent=agent))
    if by_agent:
        query = query.where(_T.c.agent_id == bindparam("agent_id"))
    return query.order_by(_T.c.created_at, _T.c.id)


def get(
    connection: Connection, scope: Scope, connector_id: str, *, for_update: bool = False
) -> ImportConnector | None:
    query = _by_id(*scope_shape(scope), for_update)
    row = connection.execute(query, {"connector_id": connector_id, **scope_params(scope)}).first()
    return to_connector(row) if row is not None else None


def find(connection: Connection, scope: Scope, ref: str) -> ImportConnector | None:
    """A connector by id, else by name; a name shared by several agents must be given as id."""
    found = get(connection, scope, ref)
    if found is not None:
        return found
    rows = connection.execute(
        select(_T).where(_T.c.name == ref, within(_T, scope)).order_by(_T.c.agent_id).limit(10)
    ).all()
    if len(rows) > 1:
        agents = ", ".join(repr(row._mapping["agent_id"]) for row in rows)
        raise InvalidInputError(
            f"several agents ({agents}) have an import connector named {ref!r}; give its id"
        )
    return to_connector(rows[0]) if rows else None


def list_all(
    connection: Connection, scope: Scope, *, agent_id: str | None = None
) -> list[ImportConnector]:
    query = _listing(*scope_shape(scope), agent_id is not None)
    params = {**scope_params(scope), **({"agent_id": agent_id} if agent_id is not None else {})}
    rows = connection.execute(query, params).all()
    return [to_connector(row) for row in rows]


def update_fields(
    connection: Connection, scope: Scope, connector_id: str, values: Mapping[str, Any]
) -> ImportConnector | None:
    """Set columns of one connector; None when it does not exist (or is out of scope)."""
    if "name" in values:
        current = get(connection, scope, connector_id)
        if current is None:
            return None
        if _name_taken(connection, current, values["name"], connector_id):
            raise DuplicateImportConnectorError(values["name"], current.agent_id)
    try:
        result = connection.execute(
            update(_T)
            .where(_T.c.id == connector_id, within(_T, scope))
            .values(**values)
            .returning(*_T.c)
        ).first()
    except IntegrityError:
        raise DuplicateImportConnectorError(str(values.get("name")), "?") from None
    return to_connector(result) if result is not None else None


def watermark(connection: Connection, connector_id: str) -> datetime | None:
    value: datetime | None = connection.execute(
        select(_T.c.watermark).where(_T.c.id == connector_id)
    ).scalar()
    return value


def delete_with_data(connection: Connection, scope: Scope, connector_id: str) -> bool:
    """Remove the connector, its jobs and everything it imported; nothing else."""
    if get(connection, scope, connector_id) is None:
        return False
    own_conversations = select(conversations.c.id).where(
        conversations.c.connector_id == connector_id
    )
    connection.execute(
        delete(session_links).where(
            or_(
                session_links.c.session_connector_id == connector_id,
                session_links.c.conversation_id.in_(own_conversations),
            )
        )
    )
    for table in (conversations, imported_traces, user_sessions, import_jobs):
        connection.execute(delete(table).where(table.c.connector_id == connector_id))
    connection.execute(delete(_T).where(_T.c.id == connector_id))
    return True
