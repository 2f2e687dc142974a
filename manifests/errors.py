"""Errors raised by the manifest layer."""

from __future__ import annotations

__all__ = ["ManifestError"]


class ManifestError(Exception):
    """A manifest could not be read, or does not follow its schema. The message names the file and the field."""
