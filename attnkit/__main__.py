"""``python -m attnkit`` runs the command line."""

import sys

from attnkit.pipelines.cli import main

sys.exit(main())
