"""The one version number of voltline: every package of the workspace carries it (a test checks), services report it."""

from importlib.metadata import version

VERSION: str = version("voltline-chassis")
