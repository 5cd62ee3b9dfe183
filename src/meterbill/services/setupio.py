"""Reading a setup document from text: JSON when it looks like JSON, YAML otherwise.

JSON is decoded as JSON (exact numbers, and ``\\ud83d\\ude00``-style escaped pairs decode to
the character; YAML would split them into two broken halves). YAML is read with a loader
that refuses a key given twice in one mapping, which would otherwise silently keep the last.
Errors name the line and column.
"""

import yaml

from meterbill.core.errors import InvalidRequest
from meterbill.services.jsonio import JSONError, loads_exact

__all__ = ["load_setup_document"]


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys."""


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
            return loads_exact(stripped)
        except JSONError as error:
            raise InvalidRequest(f"{source}: {error}") from None
    try:
        return yaml.load(stripped, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise InvalidRequest(f"{source}{where}: not valid YAML or JSON: {problem}") from None
