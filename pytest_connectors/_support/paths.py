"""Where the connector file, the database and the connectors service are: cheap to import, so
pytest start-up and the CLI never load pydantic or SQLAlchemy to find them. Each environment
variable that names one is spelled here, once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ENV_FILE = "PYTEST_CONNECTORS_FILE"
DEFAULT_RELATIVE_PATH = Path("data") / "connectors.json"
ENV_DB = "PYTEST_CONNECTORS_DB"
DATABASE_FILE_NAME = "connectors.db"  # next to the connector file, unless one is named
ENV_URL = "PYTEST_CONNECTORS_URL"  # a connectors service to use instead of a database
ENV_API_KEY = "PYTEST_CONNECTORS_API_KEY"  # the key that service takes


def chosen_database(
    explicit: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The database the user named (a path or URL): ``explicit``, then ``$PYTEST_CONNECTORS_DB``;
    None when neither names one, so the caller's default applies."""
    chosen = explicit or (os.environ if environ is None else environ).get(ENV_DB)
    return os.fspath(chosen) if chosen else None


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
    return chosen_database() or str(connector_file.parent / DATABASE_FILE_NAME)
