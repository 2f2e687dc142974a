"""What ``orch validate`` shows, as data: verdict lines, the JSON document and the resolved-config tables.

Nothing here prints; ``cli.py`` does. Tables come from the house-style factory in ``orchestrator.console``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from orchestrator.config.resolve import ConfigReport, ResolvedConfig

__all__ = ["VALIDATE_SCHEMA_VERSION", "flat_settings", "resolved_tables", "validation_document", "verdict_line"]

VALIDATE_SCHEMA_VERSION = 1


def verdict_line(report: ConfigReport) -> str:
    """``path: valid (ppo_expert, by shape ...)`` or ``path: INVALID (3 errors)``."""
    what = f" as {report.detected_as}" if report.detected_as else ""
    if report.valid:
        return f"{report.path}: valid{what}"
    n = len(report.issues)
    return f"{report.path}: INVALID, {n} error{'s' if n != 1 else ''}{what}"


def validation_document(reports: Sequence[ConfigReport]) -> dict[str, Any]:
    """One JSON document for every file (``--json``)."""
    return {
        "schema_version": VALIDATE_SCHEMA_VERSION,
        "valid": all(r.valid for r in reports),
        "files": [
            {
                "path": str(r.path),
                "valid": r.valid,
                "kind": r.kind,
                "detected_as": r.detected_as,
                "errors": [
                    {
                        "file": i.file,
                        "line": i.line,
                        "column": i.column,
                        "key_path": i.key_path,
                        "message": i.message,
                        "hint": i.hint,
                        "text": i.format(),
                    }
                    for i in r.issues
                ],
                "warnings": list(r.warnings),
                "not_applicable": list(r.not_applicable),
                "resolved": r.resolved.to_json() if r.resolved else None,
                "study": r.study.to_json() if r.study is not None else None,
            }
            for r in reports
        ],
    }


def flat_settings(settings: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, JSON value) for every leaf of ``settings``; short lists stay on one line."""
    for key, value in settings.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            yield from flat_settings(value, path)
        else:
            yield path, json.dumps(value, default=str)


def resolved_tables(resolved: ResolvedConfig) -> list[Any]:
    """Two rich tables: the resolved config (one row per leaf key) and the observation signature."""
    from orchestrator.console import make_table

    config = make_table("key", "value", title=f"{resolved.name} ({resolved.trainer}, hash {resolved.config_hash[:12]})")
    config.add_row("seeds", json.dumps(list(resolved.seeds)))
    config.add_row("deterministic", json.dumps(resolved.deterministic))
    for key, value in flat_settings(resolved.settings):
        config.add_row(key, value)
    for key, value in resolved.source.get("auto", {}).items():
        config.add_row(f"({key})", value)
    signature = make_table("observation key", "shape", "dtype", title="observation signature")
    for key, entry in resolved.observation_signature.items():
        signature.add_row(
            key,
            "(" + ", ".join(str(d) for d in entry["shape"]) + ("," if len(entry["shape"]) == 1 else "") + ")",
            entry["dtype"],
        )
    return [config, signature]
