"""Short invoice ids for CLI tables.

Invoice ids are UUIDs; a table shows the shortest prefix of at least :data:`SHORT` characters
that tells its ids apart, and ``invoices show|pdf|pay|void|credit`` accept any unique prefix
(``services.invoicing.resolve_invoice``). A prefix made of digits only would be read as an
invoice *number*, so such a prefix is lengthened until it holds a letter or a dash.
"""

from collections.abc import Iterable

__all__ = ["SHORT", "short_ids"]

SHORT = 8


def _readable(prefix: str, full: str) -> str:
    length = len(prefix)
    while prefix.isdigit() and length < len(full):
        length += 1
        prefix = full[:length]
    return prefix


def short_ids(ids: Iterable[str]) -> dict[str, str]:
    """Each id's shortest prefix (``SHORT`` characters at least) that no other id shares."""
    distinct = sorted(set(ids))
    result: dict[str, str] = {}
    for position, full in enumerate(distinct):
        # Sorted, an id shares its longest common prefix with one of its neighbours.
        shared = 0
        for other in distinct[max(position - 1, 0) : position + 2]:
            if other == full:
                continue
            common = 0
            while common < min(len(full), len(other)) and full[common] == other[common]:
                common += 1
            shared = max(shared, common)
        result[full] = _readable(full[: max(SHORT, shared + 1)], full)
    return result
