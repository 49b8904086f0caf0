"""The one place where a :class:`Scope` becomes a SQL condition."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_, bindparam, true

from pytest_connectors.errors import OutOfScopeError
from pytest_connectors.models.imports import Scope


def within(table: Table, scope: Scope) -> ColumnElement[bool]:
    """Rows of ``table`` (with ``tenant_id`` and ``agent_id`` columns) the scope may see."""
    conditions: list[ColumnElement[bool]] = []
    if scope.tenant_id is not None:
        conditions.append(table.c.tenant_id == scope.tenant_id)
    if scope.agent_id is not None:
        conditions.append(table.c.agent_id == scope.agent_id)
    return and_(true(), *conditions)


def matching(
    table: Table,
    scope: Scope,
    *,
    connector_id: str | None = None,
    agent_id: str | None = None,
    include_missing: bool = False,
) -> ColumnElement[bool]:
    """Imported rows :func:`within` the scope, of one connector and agent when given, and only
    those the provider still has unless ``include_missing``."""
    conditions = [within(table, scope)]
    if connector_id is not None:
        conditions.append(table.c.connector_id == connector_id)
    if agent_id is not None:
        conditions.append(table.c.agent_id == agent_id)
    if not include_missing:
        conditions.append(table.c.missing.is_(False))
    return and_(*conditions)


SCOPE_TENANT = "scope_tenant_id"
SCOPE_AGENT = "scope_agent_id"


def within_bound(table: Table, *, tenant: bool, agent: bool) -> ColumnElement[bool]:
    """:func:`within` for a statement built once and run for many scopes: the conditions take
    the scope's ids as bound parameters (:func:`scope_params`) instead of literals."""
    conditions: list[ColumnElement[bool]] = []
    if tenant:
        conditions.append(table.c.tenant_id == bindparam(SCOPE_TENANT))
    if agent:
        conditions.append(table.c.agent_id == bindparam(SCOPE_AGENT))
    return and_(true(), *conditions)


def scope_shape(scope: Scope) -> tuple[bool, bool]:
    return scope.tenant_id is not None, scope.agent_id is not None


def scope_params(scope: Scope) -> dict[str, str]:
    params = {}
    if scope.tenant_id is not None:
        params[SCOPE_TENANT] = scope.tenant_id
    if scope.agent_id is not None:
        params[SCOPE_AGENT] = scope.agent_id
    return params


def check_may_write(scope: Scope, tenant_id: str, agent_id: str | None) -> None:
    """Refuse to create a row for another tenant or agent than the scope's."""
    if scope.tenant_id is not None and tenant_id != scope.tenant_id:
        raise OutOfScopeError(f"this key may not act for tenant {tenant_id!r}")
    if scope.agent_id is not None and agent_id != scope.agent_id:
        raise OutOfScopeError(f"this key may not act for agent {agent_id!r}")
