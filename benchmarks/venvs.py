"""Small virtual environments built offline from the packages this interpreter already has.

The start-up comparison needs a venv holding just pytest, pytest-asyncio and httpx, and one
holding what ``pip install pytest-connectors`` installs (no extras). Downloading them would make
the benchmark depend on the network; instead every distribution of the requirement closure is
copied file by file (its ``RECORD``) from this environment, so both venvs get the very same
versions and only what was asked for (no plugin of an unrelated package loads in either).
This package itself is put on the path with a ``.pth`` file and a minimal ``dist-info`` that
declares its pytest entry point, as an editable install would.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def base_requirements() -> list[str]:
    """What installing this package without extras brings, from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements: list[str] = project["dependencies"]
    return requirements


def closure(requirements: list[str]) -> list[metadata.Distribution]:
    """The installed distributions ``requirements`` need, transitively (no extras)."""
    found: dict[str, metadata.Distribution] = {}
    pending = [Requirement(r) for r in requirements]
    while pending:
        requirement = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        dist = metadata.distribution(requirement.name)
        found[name] = dist
        pending += [Requirement(r) for r in dist.requires or []]
    return list(found.values())


def _site_packages(venv: Path) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return venv / "lib" / version / "site-packages"


def _copy_distribution(dist: metadata.Distribution, site: Path) -> None:
    origin = Path(str(dist.locate_file("")))
    for file in dist.files or []:
        if file.parts and file.parts[0] == "..":  # scripts in bin/: not needed
            continue
        source = origin / file
        if source.is_file():
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _add_this_package(site: Path) -> None:
    (site / "pytest_connectors.pth").write_text(f"{ROOT}\n", encoding="utf-8")
    info = site / "pytest_connectors-0.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pytest-connectors\nVersion: 0.0.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[pytest11]\nconnectors = pytest_connectors.pytest_plugin.plugin\n", encoding="utf-8"
    )


def make_venv(path: Path, requirements: list[str], *, with_this_package: bool = False) -> Path:
    """A venv at ``path`` with ``requirements`` (and this package); returns its python."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120
    )
    site = _site_packages(path)
    for dist in closure(requirements):
        _copy_distribution(dist, site)
    if with_this_package:
        _add_this_package(site)
    return path / "bin" / "python"
