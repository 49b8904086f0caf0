"""Root conftest: the plugin's own tests drive pytest in-process and in subprocesses."""

pytest_plugins = ["pytester"]
