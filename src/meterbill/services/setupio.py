"""Reading a setup document from text: JSON when it looks like JSON, YAML otherwise.

JSON is decoded as JSON (exact numbers, and ``\\ud83d\\ude00``-style escaped pairs decode to
the character; YAML would split them into two broken halves). YAML is read with a loader
that refuses a key given twice in one mapping, which would otherwise silently keep the last.
Errors name the line and column.

Either way a document may nest at most ``MAX_SETUP_DEPTH`` (64) levels: YAML is refused
while it is composed (PyYAML's composer recurses once per level, so a document thousands
of levels deep would otherwise end in ``RecursionError``), JSON once it is decoded.
"""

import yaml

from meterbill.core.errors import InvalidRequest
from meterbill.core.limits import MAX_SETUP_DEPTH, nests_deeper_than
from meterbill.services.jsonio import JSONError, loads_exact

__all__ = ["load_setup_document"]

_TOO_DEEP = f"nests deeper than {MAX_SETUP_DEPTH} levels"


class _TooDeep(yaml.composer.ComposerError):
    """A YAML document nested deeper than ``MAX_SETUP_DEPTH``."""


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys and nesting beyond ``MAX_SETUP_DEPTH``."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        # Counted before descending: the composer recurses once per level of nesting.
        self._depth += 1
        try:
            if self._depth > MAX_SETUP_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise _TooDeep(None, None, _TOO_DEEP, event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> object:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, str | int | bool) or key is None:
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
            seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_setup_document(data: bytes | str, *, source: str) -> object:
    """The document in ``data``; ``source`` (a file name, "body") prefixes every error."""
    text = data.decode("utf-8", errors="strict") if isinstance(data, bytes) else data
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise InvalidRequest(f"{source} is empty: expected a setup document (YAML or JSON)")
    if stripped[0] in "{[":
        try:
            document = loads_exact(stripped)
        except JSONError as error:
            raise InvalidRequest(f"{source}: {error}") from None
    else:
        document = _load_yaml(stripped, source)
    # YAML is bounded while composing, but aliases can still chain shared nodes deeper.
    if nests_deeper_than(document, MAX_SETUP_DEPTH):
        raise InvalidRequest(f"{source}: {_TOO_DEEP}")
    return document


def _load_yaml(text: str, source: str) -> object:
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        if isinstance(error, _TooDeep):
            raise InvalidRequest(f"{source}{where}: {problem}") from None
        raise InvalidRequest(f"{source}{where}: not valid YAML or JSON: {problem}") from None
    except RecursionError:  # pragma: no cover - the depth bound above comes first
        raise InvalidRequest(f"{source}: {_TOO_DEEP}") from None
