"""The CLI behind ``python main.py VERB``: apply, get, describe, scale, delete, resync."""

from functions.cli.app import main

__all__ = ["main"]
