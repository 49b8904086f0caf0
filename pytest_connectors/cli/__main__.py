import sys

from pytest_connectors.cli.main import main

sys.exit(main())
