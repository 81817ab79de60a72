"""The refresh graph of an instance: which node runs after which.

::

    ingestion (one per data source)
        -> match -> merge -> profileStore -> search
                          -> measures (one per measure)
                          -> segmentation (one per segment, after all measures)
                               -> export (one per export, after its segment;
                                          table exports after merge or measures)

Identifiers: data source id for ``ingestion``, ``Customer`` for ``match``, ``merge``,
``profileStore`` and ``search``, the measure or segment name, the export identifier.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ci_toolkit.emulator.workflows.exports import ExportDefinition
from ci_toolkit.emulator.workflows.model import NodeKey

__all__ = ["GRAPH_OPERATION_TYPES", "Graph", "Node", "SelectionError", "build_graph"]

UNIFIED = "Customer"
#: Operation types that have nodes (plus ``all``), in dependency order.
GRAPH_OPERATION_TYPES = (
    "ingestion",
    "match",
    "merge",
    "profileStore",
    "search",
    "measures",
    "segmentation",
    "export",
)
#: Emulated time-scale steps each operation type takes.
STEPS = {
    "ingestion": 3,
    "match": 3,
    "merge": 2,
    "profileStore": 1,
    "search": 1,
    "measures": 1,
    "segmentation": 1,
    "export": 2,
}


class SelectionError(ValueError):
    """A job or schedule names an operation type or identifiers the graph does not have."""


@dataclass(frozen=True)
class Node:
    """One node of the refresh graph."""

    operation_type: str
    identifier: str
    friendly_name: str
    depends_on: tuple[NodeKey, ...] = ()
    export: ExportDefinition | None = None

    @property
    def key(self) -> NodeKey:
        """``(operationType, identifier)``."""
        return (self.operation_type, self.identifier)


@dataclass
class Graph:
    """Nodes in dependency order, with their dependants."""

    nodes: dict[NodeKey, Node] = field(default_factory=dict)
    dependants: dict[NodeKey, list[NodeKey]] = field(default_factory=dict)

    def add(self, node: Node) -> None:
        """Add ``node`` (its dependencies must already be present)."""
        self.nodes[node.key] = node
        self.dependants.setdefault(node.key, [])
        for dep in node.depends_on:
            self.dependants[dep].append(node.key)

    def of_type(self, operation_type: str) -> list[Node]:
        """The nodes of one operation type, in graph order."""
        return [n for n in self.nodes.values() if n.operation_type == operation_type]

    def downstream(self, keys: Iterable[NodeKey]) -> set[NodeKey]:
        """``keys`` and every node that depends on them, transitively."""
        seen: set[NodeKey] = set()
        stack = list(keys)
        while stack:
            key = stack.pop()
            if key in seen:
                continue
            seen.add(key)
            stack.extend(self.dependants.get(key, []))
        return seen

    def resolve(self, operation_type: str, identifiers: list[str]) -> list[NodeKey]:
        """The nodes a request names: all of a type, or those matching ``identifiers``.

        Identifiers match exactly, else case-insensitively, else by friendly name (so a data
        source may be named by id or by name).

        Raises
        ------
        SelectionError
            Unknown operation type, identifiers with ``all``, or unknown identifiers.
        """
        if operation_type == "all":
            if identifiers:
                raise SelectionError("identifiers are not allowed with operationType 'all'")
            return list(self.nodes)
        if operation_type not in GRAPH_OPERATION_TYPES:
            raise SelectionError(
                f"operationType {operation_type!r} has no nodes in the refresh graph of this "
                f"instance; use one of: all, {', '.join(GRAPH_OPERATION_TYPES)}"
            )
        candidates = self.of_type(operation_type)
        if not identifiers:
            return [n.key for n in candidates]
        keys: list[NodeKey] = []
        unknown: list[str] = []
        for wanted in identifiers:
            node = _match(candidates, wanted)
            if node is None:
                unknown.append(wanted)
            elif node.key not in keys:
                keys.append(node.key)
        if unknown:
            known = ", ".join(n.identifier for n in candidates) or "none"
            raise SelectionError(
                f"unknown {operation_type} identifier(s): {', '.join(unknown)}; "
                f"this instance has: {known}"
            )
        return keys

    def select(self, operation_type: str, identifiers: list[str]) -> dict[NodeKey, str]:
        """What a job runs: the named nodes (``requested``) and their dependants
        (``upstreamRerunning``), in graph order."""
        requested = self.resolve(operation_type, identifiers)
        chosen = self.downstream(requested)
        wanted = set(requested)
        return {
            key: ("requested" if key in wanted else "upstreamRerunning")
            for key in self.nodes
            if key in chosen
        }


def _match(candidates: list[Node], wanted: str) -> Node | None:
    for node in candidates:
        if node.identifier == wanted:
            return node
    lowered = wanted.casefold()
    for node in candidates:
        if node.identifier.casefold() == lowered:
            return node
    for node in candidates:
        if node.friendly_name.casefold() == lowered:
            return node
    return None


def build_graph(
    *,
    data_sources: list[dict[str, Any]],
    measure_names: list[str],
    segment_names: list[str],
    exports: list[ExportDefinition],
) -> Graph:
    """The refresh graph for the instance's current data sources, measures, segments, exports."""
    graph = Graph()
    ingestion: list[NodeKey] = []
    for source in data_sources:
        source_id = str(source.get("dataSourceId") or source.get("name"))
        node = Node("ingestion", source_id, str(source.get("name") or source_id))
        graph.add(node)
        ingestion.append(node.key)
    match = Node("match", UNIFIED, "Match: Customer", tuple(ingestion))
    merge = Node("merge", UNIFIED, "Merge: Customer", (match.key,))
    store = Node("profileStore", UNIFIED, "Profile store: Customer", (merge.key,))
    search = Node("search", UNIFIED, "Search index: Customer", (store.key,))
    for node in (match, merge, store, search):
        graph.add(node)
    measures = []
    for name in measure_names:
        node = Node("measures", name, name, (merge.key,))
        graph.add(node)
        measures.append(node.key)
    segments = set()
    for name in segment_names:
        node = Node("segmentation", name, name, (merge.key, *measures))
        graph.add(node)
        segments.add(name)
    for export in exports:
        if export.source in segments:
            deps: tuple[NodeKey, ...] = (("segmentation", export.source),)
        elif export.source == "Customer_Measure" and measures:
            deps = tuple(measures)
        else:
            deps = (merge.key,)
        graph.add(Node("export", export.identifier, export.friendly_name, deps, export))
    return graph
