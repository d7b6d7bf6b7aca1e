"""`python -m dagster_project.cli`: the same as the `onboarding` console script."""

import sys

from dagster_project.cli.main import main

sys.exit(main())
