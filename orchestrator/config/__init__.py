"""Config layer: load (line marks, base_config, --set), migrate, validate (JSON Schema), resolve."""

from orchestrator.config.load import LoadedConfig as LoadedConfig
from orchestrator.config.load import load_config as load_config
from orchestrator.config.migrate import detect_kind as detect_kind
from orchestrator.config.resolve import RESOLVED_SCHEMA_VERSION as RESOLVED_SCHEMA_VERSION
from orchestrator.config.resolve import ConfigReport as ConfigReport
from orchestrator.config.resolve import ResolvedConfig as ResolvedConfig
from orchestrator.config.resolve import check_config as check_config
from orchestrator.config.resolve import resolve_config as resolve_config

__all__ = [
    "RESOLVED_SCHEMA_VERSION",
    "ConfigReport",
    "LoadedConfig",
    "ResolvedConfig",
    "check_config",
    "detect_kind",
    "load_config",
    "resolve_config",
]
