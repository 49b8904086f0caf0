"""The package's layers: each subpackage imports only from the layers below it.

The rule is written in ``pytest_connectors/__init__.py``; this test is its enforcement. Lazy
imports inside functions count too: a layer violation is one whether it runs at import or later.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pytest_connectors

PACKAGE = Path(pytest_connectors.__file__).parent

# Top first. Parts of one layer are independent of each other.
LAYERS: list[set[str]] = [
    {"pytest_plugin", "cli", "service"},
    {"replay"},
    {"evaluation", "imports", "fakes"},
    {"client", "servers", "storage"},
    {"registry"},
    {"wire"},
    {"models"},
    {"_support"},
    {"errors"},
]
RANK = {part: rank for rank, layer in enumerate(LAYERS) for part in layer}

# Third-party packages only one part may import.
CONFINED = {
    "pytest": {"pytest_plugin"},
    "_pytest": set(),
    "fastapi": {"service"},
    "starlette": {"service", "fakes"},
    "uvicorn": {"service", "servers", "fakes"},
    "sqlalchemy": {"storage"},
    "psycopg": {"storage"},
}


def part_of(module: str) -> str | None:
    pieces = module.split(".")
    if pieces[0] != "pytest_connectors" or len(pieces) < 2:
        return None
    return pieces[1]


def imports_of(path: Path) -> list[tuple[int, str]]:
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                if path.name == "__init__.py":
                    base = module.split(".")[: len(module.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE)


def test_every_subpackage_has_a_layer() -> None:
    parts = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    parts |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert parts <= set(RANK), f"add {sorted(parts - set(RANK))} to LAYERS and the docstring"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(path: Path) -> None:
    own = path.relative_to(PACKAGE).parts[0]
    wrong = []
    for line, target in imports_of(path):
        other = part_of(target)
        if other is not None and other != own and RANK.get(other, -1) <= RANK[own]:
            wrong.append(f"line {line}: {target} ({other} is not below {own})")
        top = target.split(".")[0]
        if top in CONFINED and own not in CONFINED[top]:
            wrong.append(f"line {line}: {target} may only be imported by {sorted(CONFINED[top])}")
    assert not wrong, "\n".join(wrong)


def test_the_docstring_states_the_rule() -> None:
    doc = pytest_connectors.__doc__ or ""
    for layer in LAYERS:
        for part in layer:
            if (PACKAGE / part).exists() or (PACKAGE / f"{part}.py").exists():
                assert part in doc, f"{part} is missing from the package docstring"


def test_every_class_name_means_one_thing() -> None:
    # Two classes of one name (say two ``RetryPolicy``) make a reader guess which one is meant.
    places: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text(), str(path)).body:
            if isinstance(node, ast.ClassDef):
                places.setdefault(node.name, []).append(str(path.relative_to(PACKAGE)))
    assert {name: where for name, where in places.items() if len(where) > 1} == {}


PROVIDERS = PACKAGE / "imports" / "providers"
PROVIDER_FOLDERS = sorted(p.name for p in PROVIDERS.iterdir() if (p / "__init__.py").exists())


def test_there_are_provider_folders() -> None:
    assert {"langsmith", "langfuse", "fullstory"} <= set(PROVIDER_FOLDERS)


@pytest.mark.parametrize("provider", PROVIDER_FOLDERS)
def test_a_provider_imports_no_other_provider_nor_the_registry(provider: str) -> None:
    # A provider is one folder: what two of them share lives in imports/, below them all.
    prefix = "pytest_connectors.imports.providers"
    wrong = []
    for path in sorted((PROVIDERS / provider).rglob("*.py")):
        for line, target in imports_of(path):
            if target == prefix or (
                target.startswith(f"{prefix}.") and not target.startswith(f"{prefix}.{provider}")
            ):
                wrong.append(f"{path.relative_to(PACKAGE)} line {line}: {target}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "path",
    [p for p in SOURCES if PROVIDERS not in p.parents],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_only_the_registry_reaches_into_a_provider_folder(path: Path) -> None:
    # Core code that needs what a provider has moves below imports/providers/: else removing or
    # replacing that provider breaks code that is not its own. The registry
    # (imports/providers/__init__.py) is the one place that names them.
    prefix = "pytest_connectors.imports.providers."
    wrong = [
        f"line {line}: {target}" for line, target in imports_of(path) if target.startswith(prefix)
    ]
    assert not wrong, "\n".join(wrong)
