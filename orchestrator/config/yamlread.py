"""Reading YAML that a person gave orch: one safe loader, and a budget on what aliases may expand to.

YAML aliases share a node (``a1: &a1 [*a0, *a0, ...]``): nine levels of ten references are a few hundred bytes that
expand to a billion values once anything walks them (orch's line-tracking builder, a deep copy, a JSON dump). Every
YAML orch reads from a person (config files, ``--set`` values, cluster profiles, sweep files) is composed first and
its expanded size counted over the node graph, each shared node once, so an alias bomb is refused in microseconds,
before anything is built: :class:`YAMLTooLarge`, a :class:`yaml.YAMLError` that names the budget.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["MAX_YAML_NODES", "Loader", "YAMLTooLarge", "check_expansion", "compose", "load_yaml"]

# A config is a page of YAML (a few hundred values); a sweep file a few thousand. Far more is a mistake or an attack.
MAX_YAML_NODES = 100_000


class YAMLTooLarge(yaml.YAMLError):
    """The document expands to more values than :data:`MAX_YAML_NODES` (aliases inside aliases), or refers to itself."""


class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # base chosen at import time
    """Safe loader (libyaml's when present: 10x faster) that also reads ``1e-4`` as a float.

    YAML 1.1 wants a dot (``1.0e-4``); people write ``1e-4`` and would get a string.
    """


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_expansion(root: yaml.Node, limit: int = MAX_YAML_NODES) -> int:
    """The number of values ``root`` expands to (a shared node counted at every place it is used), computed over the
    graph in time proportional to its distinct nodes. Raises :class:`YAMLTooLarge` past ``limit`` or on a cycle."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the current path: meeting one again is a recursive alias
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > limit:
                line = node.start_mark.line + 1
                raise YAMLTooLarge(
                    f"the YAML from line {line} expands to more than {limit} values (aliases repeated inside "
                    "aliases?); write the values out or use fewer nested aliases"
                )
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise YAMLTooLarge(f"a YAML alias at line {node.start_mark.line + 1} refers to itself")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def compose(text: str, limit: int = MAX_YAML_NODES) -> tuple[Loader, yaml.Node | None]:
    """The node graph of one YAML document, its expansion checked; the caller builds from it, then disposes of the
    loader (``loader.dispose()``)."""
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            check_expansion(node, limit)
    except BaseException:
        loader.dispose()
        raise
    return loader, node


def load_yaml(text: str, limit: int = MAX_YAML_NODES) -> Any:
    """``yaml.safe_load`` with the expansion budget (and ``1e-4`` read as a float); None for an empty document."""
    loader, node = compose(text, limit)
    try:
        return loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
