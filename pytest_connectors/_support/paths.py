"""Where the connector file and the database are: cheap to import, so pytest start-up never loads
pydantic or SQLAlchemy."""

from __future__ import annotations

import os
from pathlib import Path

ENV_FILE = "PYTEST_CONNECTORS_FILE"
DEFAULT_RELATIVE_PATH = Path("data") / "connectors.json"
ENV_DB = "PYTEST_CONNECTORS_DB"
DEFAULT_DB_NAME = "connectors.db"


def resolve_path(
    explicit: str | os.PathLike[str] | None = None, project_dir: Path | None = None
) -> Path:
    """The connector file: an explicit path, then ``$PYTEST_CONNECTORS_FILE``, then the default.

    Always absolute and normalised.
    """
    if explicit:
        chosen = Path(explicit)
    elif os.environ.get(ENV_FILE):
        chosen = Path(os.environ[ENV_FILE])
    else:
        chosen = (project_dir or Path.cwd()) / DEFAULT_RELATIVE_PATH
    chosen = chosen.expanduser()
    if not chosen.is_absolute():
        chosen = (project_dir or Path.cwd()) / chosen
    # Normalised (``a/./b/../c`` is ``a/c``) so messages and cache keys name one path one way;
    # symlinks are kept, as the user wrote them.
    return Path(os.path.normpath(chosen))


def default_database(connector_file: Path) -> str:
    """The database opened when none is given, by the CLI, the library and the pytest plugin
    alike: ``$PYTEST_CONNECTORS_DB``, else ``connectors.db`` next to the connector file."""
    return os.environ.get(ENV_DB) or str(connector_file.parent / DEFAULT_DB_NAME)
