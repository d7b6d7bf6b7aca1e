"""The command line (`onboarding`) and the runner beside it: one cycle in process, its lock and
progress, and the replay of a past window. Nothing under defs/ imports this package."""

from dagster_project.cli.main import main

__all__ = ["main"]
