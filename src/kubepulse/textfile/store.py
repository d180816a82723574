"""Read an XML store as a stream of rows and count and aggregate them per type.

The store is read by expat in one streaming pass: nothing is kept but the current row, so memory
stays flat however large the store is, and errors know their line and column. Elements nested
deeper than ``Mapping.max_depth`` are refused where they start: expat keeps every open element,
so unbounded nesting would be the one way left to make memory grow. defusedxml's
guards are installed on the parser: entity declarations (billion laughs) and external references
(XXE) are refused with defusedxml's exceptions.

What a row is, where its type comes from and which numeric fields to aggregate come from a
``Mapping``, loaded from YAML by ``load_mapping``. The default mapping is the common case: every
child element of the root is a row, and its type is its ``type`` attribute, else its tag name.
"""

from __future__ import annotations

import math
import os
import xml.parsers.expat
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from defusedxml import EntitiesForbidden, ExternalReferenceForbidden

from kubepulse.exposition.text import valid_metric_name

__all__ = [
    "AGGREGATES",
    "DEFAULT_MAPPING",
    "MAX_DEPTH",
    "FieldSpec",
    "Mapping",
    "Row",
    "Source",
    "StoreError",
    "StoreSummary",
    "load_mapping",
    "read_store",
]

AGGREGATES = ("sum", "min", "max", "last")
# Elements may nest this deep (the root is level 1): far beyond any real store, and about 32 KB
# of expat's open-element stack at most.
MAX_DEPTH = 256
OnError = Literal["keep", "report"]

# promtool rejects these on gauges: they belong to counters, summaries and histograms.
RESERVED_SUFFIXES = ("_total", "_sum", "_count", "_bucket")

# Families every output has; a configured field may not reuse their names.
BUILTIN_METRICS = frozenset(
    {
        "store_total_rows",
        "store_rows",
        "store_file_size_bytes",
        "store_file_mtime_seconds",
        "store_parse_success",
        "store_last_parse_timestamp_seconds",
    }
)


class StoreError(Exception):
    """Bad input: a store or config that cannot be used. ``str()`` is one line,
    ``FILE:LINE:COLUMN: what`` (1-based), or ``FILE: what`` when there is no position."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        message: str,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.path = str(path)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}:{self.column}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Source:
    """Where a value comes from in a row: one of its attributes, or the text of a child element."""

    kind: Literal["attribute", "child"]
    name: str


@dataclass(frozen=True)
class FieldSpec:
    """A numeric value of each row, aggregated per type into the gauge ``metric``."""

    name: str
    source: Source
    aggregate: str = "sum"
    help: str = ""

    @property
    def metric(self) -> str:
        """``store_NAME`` for ``sum``, ``store_NAME_AGGREGATE`` otherwise.

        Not ``_sum``: that suffix is reserved for summaries and histograms.
        """
        base = f"store_{self.name}"
        return base if self.aggregate == "sum" else f"{base}_{self.aggregate}"

    @property
    def description(self) -> str:
        if self.help:
            return self.help
        where = "attribute" if self.source.kind == "attribute" else "child element"
        how = {"sum": "Sum", "min": "Minimum", "max": "Maximum", "last": "Last value"}
        return (
            f"{how[self.aggregate]} of the {where} {self.source.name} of the store's rows, by type"
        )


@dataclass(frozen=True)
class Mapping:
    """How to read rows from a store.

    ``row``: the tag of row elements at any depth; ``None``: every child of the root.
    ``type_source``: where a row's type comes from; when it is missing or empty, the type is
    ``type_default``, or the row's tag name if that is ``None``.
    ``on_error``: ``keep`` leaves the previous ``.prom`` file alone when a parse fails;
    ``report`` replaces it with one saying ``store_parse_success 0``.
    ``max_depth``: an element nested deeper than this (the root is level 1) stops the parse
    with an error at its position, so memory is bounded by the size of a row, not the nesting.
    """

    row: str | None = None
    type_source: Source = Source("attribute", "type")
    type_default: str | None = None
    fields: tuple[FieldSpec, ...] = ()
    on_error: OnError = "keep"
    max_depth: int = MAX_DEPTH


DEFAULT_MAPPING = Mapping()


@dataclass
class Row:
    """One row, as ``--show`` prints it: where it starts, its tag, type and field values."""

    line: int
    column: int
    tag: str
    type: str
    values: dict[str, float]


@dataclass
class StoreSummary:
    """What one parse found: rows per type and each field's aggregate per type."""

    path: str
    size_bytes: int
    mtime_seconds: float
    rows_by_type: dict[str, int] = field(default_factory=dict)
    # field name -> type -> aggregated value
    fields: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows_by_type.values())


class _RowHandler:
    """Turns expat events into per-type counts and aggregates; keeps only the row being read.

    This runs once per element of stores with millions of rows, so the per-row path does the
    least it can: attributes are read once at the row's start, fields are addressed by index,
    and text is only collected (and its handler only installed) when a source is a child.
    """

    def __init__(
        self,
        path: str,
        mapping: Mapping,
        types: Collection[str] | None,
        summary: StoreSummary,
        on_row: Callable[[Row], None] | None,
    ) -> None:
        self.path = path
        self.row = mapping.row
        self.type_default = mapping.type_default
        self.types = types
        self.counts = summary.rows_by_type
        self.on_row = on_row
        self.specs = mapping.fields
        self.kinds = [s.aggregate for s in mapping.fields]
        source = mapping.type_source
        self.type_attr = source.name if source.kind == "attribute" else None
        self.type_child = source.name if source.kind == "child" else None
        self.attr_fields = [
            (i, s.source.name) for i, s in enumerate(self.specs) if s.source.kind == "attribute"
        ]
        self.child_fields: dict[str, list[int]] = {}
        for i, s in enumerate(self.specs):
            if s.source.kind == "child":
                self.child_fields.setdefault(s.source.name, []).append(i)
        self.child_names = set(self.child_fields)
        if self.type_child is not None:
            self.child_names.add(self.type_child)
        self.aggregates: list[dict[str, float]] = [{} for _ in self.specs]
        self.max_depth = mapping.max_depth
        self.depth = 0
        self.row_depth = 0  # depth of the row being read; 0 between rows
        self.row_tag = ""
        self.row_pos = (0, 0)
        self.row_type: str | None = None
        self.values: list[float | None] = []
        self.child: str | None = None  # child element whose text is being collected
        self.child_pos = (0, 0)
        self.text: list[str] = []
        self.parser = xml.parsers.expat.ParserCreate()
        p = self.parser
        p.buffer_text = True
        if self.child_names or on_row is not None:
            p.StartElementHandler = self.start
            p.EndElementHandler = self.end
        else:
            p.StartElementHandler, p.EndElementHandler = self.attribute_rows()
        if self.child_names:
            p.CharacterDataHandler = self.characters
        # defusedxml's guards (defusedxml.expatreader.DefusedExpatParser.reset, its defaults),
        # on a bare expat parser: its SAX layer adds a Python call and an attributes object per
        # element. Parameter-entity parsing on, as SAX has it, so that an external DTD reaches
        # the refusal handler instead of being skipped silently.
        p.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_UNLESS_STANDALONE)
        p.EntityDeclHandler = self.refuse_entity
        p.UnparsedEntityDeclHandler = self.refuse_unparsed_entity
        p.ExternalEntityRefHandler = self.refuse_external

    @staticmethod
    def refuse_entity(
        name: str, is_pe: bool, value: str | None, base: str | None, sysid: str | None,
        pubid: str | None, notation: str | None,
    ) -> None:  # fmt: skip
        raise EntitiesForbidden(name, value, base, sysid, pubid, notation)

    @staticmethod
    def refuse_unparsed_entity(
        name: str, base: str | None, sysid: str | None, pubid: str | None, notation: str | None
    ) -> None:
        raise EntitiesForbidden(name, None, base, sysid, pubid, notation)

    @staticmethod
    def refuse_external(
        context: str, base: str | None, sysid: str | None, pubid: str | None
    ) -> int:
        raise ExternalReferenceForbidden(context, base, sysid, pubid)

    def position(self) -> tuple[int, int]:
        """The parser's current line and 1-based column."""
        return self.parser.CurrentLineNumber, self.parser.CurrentColumnNumber + 1

    def number(self, i: int, text: str, where: tuple[int, int] | None = None) -> float | None:
        """``text`` as a float; ``None`` if blank; ``StoreError`` if it is not a number."""
        try:
            return float(text)
        except ValueError:
            if not text.strip():
                return None
            source = self.specs[i].source
            raise StoreError(
                self.path,
                f"field {self.specs[i].name!r} ({source.kind} {source.name!r}) "
                f"is not a number: {text!r}",
                *(where or self.position()),
            ) from None

    def too_deep(self, name: str, depth: int) -> StoreError:
        return StoreError(
            self.path,
            f"element <{name}> is nested {depth} levels deep, more than the limit of "
            f"{self.max_depth} (--max-depth, or max_depth in the config)",
            *self.position(),
        )

    def attribute_rows(
        self,
    ) -> tuple[Callable[[str, dict[str, str]], None], Callable[[str], None]]:
        """Start and end handlers for stores whose type and fields are all attributes and whose
        rows nobody watches (``on_row``): each row is counted at its start, as nothing inside
        it can change it. Closures over locals: the fewest lookups per element."""
        depth = row_depth = 0
        max_depth, row, type_attr = self.max_depth, self.row, self.type_attr
        type_default, types, counts = self.type_default, self.types, self.counts
        attr_fields, size = self.attr_fields, len(self.specs)
        aggregates, kinds, number = self.aggregates, self.kinds, self.number

        def start(name: str, attrs: dict[str, str]) -> None:
            nonlocal depth, row_depth
            depth += 1
            if depth > max_depth:
                raise self.too_deep(name, depth)
            if row_depth or not ((name == row) if row is not None else depth == 2):
                return
            row_depth = depth
            row_type = attrs.get(type_attr) if type_attr else None
            if not row_type:
                row_type = type_default if type_default is not None else name
            if "\r" in row_type:  # only from &#13;: exported as a newline
                row_type = row_type.replace("\r\n", "\n").replace("\r", "\n")
            if types is not None and row_type not in types:
                return
            counts[row_type] = counts.get(row_type, 0) + 1
            if size:
                values: list[float | None] = [None] * size
                for i, attr in attr_fields:
                    text = attrs.get(attr)
                    if text is not None:
                        try:
                            values[i] = float(text)
                        except ValueError:  # blank, or an error with its position
                            values[i] = number(i, text)
                _fold(aggregates, kinds, row_type, values)

        def end(name: str) -> None:
            nonlocal depth, row_depth
            if depth == row_depth:
                row_depth = 0
            depth -= 1

        return start, end

    def start(self, name: str, attrs: dict[str, str]) -> None:
        depth = self.depth = self.depth + 1
        if depth > self.max_depth:
            raise self.too_deep(name, depth)
        if self.row_depth == 0:
            if (name == self.row) if self.row is not None else depth == 2:
                self.row_depth = depth
                self.row_tag = name
                self.row_type = attrs.get(self.type_attr) if self.type_attr else None
                if self.specs:
                    values: list[float | None] = [None] * len(self.specs)
                    for i, attr in self.attr_fields:
                        text = attrs.get(attr)
                        if text is not None:
                            try:
                                values[i] = float(text)
                            except ValueError:  # blank, or an error with its position
                                values[i] = self.number(i, text)
                    self.values = values
                if self.on_row is not None:
                    self.row_pos = self.position()
        elif depth == self.row_depth + 1 and name in self.child_names:
            self.child = name
            self.child_pos = self.position()
            self.text = []

    def characters(self, content: str) -> None:
        if self.child is not None:
            self.text.append(content)

    def end(self, name: str) -> None:
        depth = self.depth
        self.depth = depth - 1
        if depth == self.row_depth:
            self.end_row()
            self.row_depth = 0
        elif self.child is not None and depth == self.row_depth + 1:
            # The first occurrence of a child wins, as an attribute occurs only once.
            text = "".join(self.text).strip()
            if name == self.type_child and not self.row_type:
                self.row_type = text
            for i in self.child_fields.get(name, ()):
                if self.values[i] is None:
                    self.values[i] = self.number(i, text, self.child_pos)
            self.child = None

    def end_row(self) -> None:
        row_type = self.row_type or (
            self.type_default if self.type_default is not None else self.row_tag
        )
        if "\r" in row_type:  # only from &#13;: exported as a newline, so counted as one
            row_type = row_type.replace("\r\n", "\n").replace("\r", "\n")
        if self.types is not None and row_type not in self.types:
            return
        self.counts[row_type] = self.counts.get(row_type, 0) + 1
        _fold(self.aggregates, self.kinds, row_type, self.values)
        if self.on_row is not None:
            values = {
                s.name: v for s, v in zip(self.specs, self.values, strict=True) if v is not None
            }
            self.on_row(Row(*self.row_pos, self.row_tag, row_type, values))


def _fold(
    aggregates: list[dict[str, float]],
    kinds: list[str],
    row_type: str,
    values: list[float | None],
) -> None:
    """Fold one row's field values into each field's per-type aggregate."""
    for i, value in enumerate(values):
        if value is None:
            continue
        per_type = aggregates[i]
        old = per_type.get(row_type)
        kind = kinds[i]
        if old is None or kind == "last":
            per_type[row_type] = value
        elif kind == "sum":
            per_type[row_type] = old + value
        elif kind == "min":
            per_type[row_type] = value if math.isnan(old) else min(old, value)
        else:
            per_type[row_type] = value if math.isnan(old) else max(old, value)


def read_store(
    path: str | os.PathLike[str],
    mapping: Mapping = DEFAULT_MAPPING,
    types: Collection[str] | None = None,
    on_row: Callable[[Row], None] | None = None,
) -> StoreSummary:
    """Parse the store at ``path`` in one streaming pass and return its summary.

    Only rows whose type is in ``types`` count (all rows if ``None``); types in ``types`` that
    have no rows get a count of 0. ``on_row`` is called with each counted row, in document order.
    Raises ``StoreError`` (file, line, column) for a missing or unreadable file, malformed XML,
    entity declarations or external references, elements nested deeper than
    ``mapping.max_depth``, and field values that are not numbers.
    """
    label = os.path.abspath(path)
    try:
        stream = open(path, "rb")  # noqa: SIM115 (closed below; fstat needs the open file)
    except OSError as exc:
        raise StoreError(path, exc.strerror or str(exc)) from None
    with stream:
        st = os.fstat(stream.fileno())
        summary = StoreSummary(label, st.st_size, st.st_mtime)
        handler = _RowHandler(str(path), mapping, types, summary, on_row)
        try:
            handler.parser.ParseFile(stream)
        except xml.parsers.expat.ExpatError as exc:
            raise StoreError(
                path,
                f"malformed XML: {xml.parsers.expat.ErrorString(exc.code)}",
                exc.lineno,
                exc.offset + 1,
            ) from None
        except EntitiesForbidden as exc:
            raise StoreError(
                path,
                f"entity declaration {exc.name!r} refused: entities are disabled "
                "(protection against billion-laughs and external-entity attacks)",
                *handler.position(),
            ) from None
        except ExternalReferenceForbidden as exc:
            raise StoreError(
                path,
                f"external reference {exc.sysid!r} refused (protection against XXE)",
                *handler.position(),
            ) from None
        except OSError as exc:
            raise StoreError(path, exc.strerror or str(exc)) from None
    if types is not None:
        for t in types:
            summary.rows_by_type.setdefault(t, 0)
    summary.fields = {
        s.name: agg for s, agg in zip(mapping.fields, handler.aggregates, strict=True)
    }
    return summary


# --- the mapping config -------------------------------------------------------------------------


def _where(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _mapping_node(
    path: Path, node: yaml.Node, what: str, keys: Collection[str]
) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        raise StoreError(path, f"{what} must be a mapping", *_where(node))
    out: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        if not isinstance(key_node, yaml.ScalarNode) or key not in keys:
            allowed = ", ".join(sorted(keys))
            raise StoreError(
                path, f"unknown key {key!r} in {what} (allowed: {allowed})", *_where(key_node)
            )
        if key in out:
            raise StoreError(path, f"duplicate key {key!r} in {what}", *_where(key_node))
        out[key] = value_node
    return out


def _string(path: Path, node: yaml.Node, what: str) -> str:
    if (
        not isinstance(node, yaml.ScalarNode)
        or node.tag != "tag:yaml.org,2002:str"
        or not node.value
    ):
        raise StoreError(path, f"{what} must be a non-empty string", *_where(node))
    return str(node.value)


def _source(
    path: Path, node: yaml.Node, what: str, extra: Collection[str] = ()
) -> tuple[Source, dict[str, yaml.Node]]:
    keys = _mapping_node(path, node, what, {"attribute", "child", *extra})
    given = [k for k in ("attribute", "child") if k in keys]
    if len(given) != 1:
        raise StoreError(path, f"{what} needs exactly one of 'attribute' or 'child'", *_where(node))
    kind: Literal["attribute", "child"] = "attribute" if given[0] == "attribute" else "child"
    return Source(kind, _string(path, keys[kind], f"{what}.{kind}")), keys


def load_mapping(path: str | os.PathLike[str]) -> Mapping:
    """Load and check a mapping config; ``StoreError`` (file, line, column) if it is wrong.

    Example::

        row: order                 # row elements' tag (default: every child of the root)
        type: {child: kind}        # or {attribute: NAME}; default {attribute: type}, else the tag
        fields:
          - {name: amount, attribute: amount, aggregate: sum}   # -> store_amount_sum{path,type}
        on_error: report           # keep (default) or report: write store_parse_success 0
        max_depth: 64              # refuse elements nested deeper (default 256; the root is 1)
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(path, getattr(exc, "strerror", None) or str(exc)) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise StoreError(path, f"invalid YAML: {exc.problem or exc.context}", *where) from None
    except yaml.YAMLError as exc:
        raise StoreError(path, f"invalid YAML: {exc}") from None
    if root is None:
        return DEFAULT_MAPPING
    top = _mapping_node(
        path, root, "the config", {"row", "type", "fields", "on_error", "max_depth"}
    )
    row = _string(path, top["row"], "row") if "row" in top else None
    type_source, type_default = DEFAULT_MAPPING.type_source, None
    if "type" in top:
        type_source, keys = _source(path, top["type"], "type", extra={"default"})
        if "default" in keys:
            type_default = _string(path, keys["default"], "type.default")
    fields: list[FieldSpec] = []
    if "fields" in top:
        node = top["fields"]
        if not isinstance(node, yaml.SequenceNode):
            raise StoreError(path, "fields must be a list", *_where(node))
        names: set[str] = set()
        metrics: set[str] = set()
        for i, item in enumerate(node.value):
            what = f"fields[{i}]"
            source, keys = _source(path, item, what, extra={"name", "aggregate", "help"})
            if "name" not in keys:
                raise StoreError(path, f"{what} needs a 'name'", *_where(item))
            spec = FieldSpec(
                name=_string(path, keys["name"], f"{what}.name"),
                source=source,
                aggregate=_string(path, keys["aggregate"], f"{what}.aggregate")
                if "aggregate" in keys
                else "sum",
                help=_string(path, keys["help"], f"{what}.help") if "help" in keys else "",
            )
            if spec.aggregate not in AGGREGATES:
                raise StoreError(
                    path,
                    f"{what}.aggregate must be one of {', '.join(AGGREGATES)}, "
                    f"not {spec.aggregate!r}",
                    *_where(keys["aggregate"]),
                )
            if spec.name in names:
                raise StoreError(
                    path, f"{what}.name {spec.name!r} is used twice", *_where(keys["name"])
                )
            if (
                not valid_metric_name(spec.metric)
                or spec.metric.endswith(RESERVED_SUFFIXES)
                or spec.metric in BUILTIN_METRICS | metrics
            ):
                raise StoreError(
                    path,
                    f"{what}.name gives the metric name {spec.metric!r}, "
                    "which is invalid, already used or ends in a reserved suffix "
                    f"({', '.join(RESERVED_SUFFIXES)})",
                    *_where(keys["name"]),
                )
            names.add(spec.name)
            metrics.add(spec.metric)
            fields.append(spec)
    on_error: OnError = "keep"
    if "on_error" in top:
        value = _string(path, top["on_error"], "on_error")
        if value not in ("keep", "report"):
            raise StoreError(
                path,
                f"on_error must be 'keep' or 'report', not {value!r}",
                *_where(top["on_error"]),
            )
        on_error = "keep" if value == "keep" else "report"
    max_depth = MAX_DEPTH
    if "max_depth" in top:
        node = top["max_depth"]
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int":
            max_depth = yaml.SafeLoader("").construct_yaml_int(node)
        if node.tag != "tag:yaml.org,2002:int" or max_depth < 1:
            raise StoreError(path, "max_depth must be a whole number, at least 1", *_where(node))
    return Mapping(row, type_source, type_default, tuple(fields), on_error, max_depth)
