"""What the dashboard tests share: a small HTML tree to find elements by ``data-testid``.

The standard library's ``HTMLParser`` builds the tree; there is no browser here (that is
``tests/browser``), only the markup the server sends.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser

__all__ = ["Element", "parse_html"]

# Elements that never have children or an end tag in HTML.
_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


@dataclass(slots=True)
class Element:
    """One element: its tag, attributes, children and the text directly inside it."""

    tag: str
    attrs: dict[str, str]
    children: list["Element"] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    parts: list["str | Element"] = field(default_factory=list)

    def walk(self) -> Iterator["Element"]:
        yield self
        for child in self.children:
            yield from child.walk()

    def all(self, testid: str) -> list["Element"]:
        return [e for e in self.walk() if e.attrs.get("data-testid") == testid]

    def one(self, testid: str) -> "Element":
        found = self.all(testid)
        assert len(found) == 1, f"{len(found)} elements with data-testid={testid!r}"
        return found[0]

    def tags(self, tag: str) -> list["Element"]:
        return [e for e in self.walk() if e.tag == tag]

    @property
    def text(self) -> str:
        """All the text inside, whitespace collapsed (``<title>`` of SVG shapes included)."""
        pieces: list[str] = []

        def gather(element: Element) -> None:
            for part in element.parts:
                if isinstance(part, str):
                    pieces.append(part)
                else:
                    gather(part)

        gather(self)
        return " ".join("".join(pieces).split())

    def cells(self) -> list[str]:
        return [cell.text for cell in self.children if cell.tag in ("td", "th")]

    def decimal(self, attribute: str = "data-amount") -> Decimal:
        return Decimal(self.attrs[attribute])


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        parent = self.stack[-1]
        parent.children.append(element)
        parent.parts.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        self.stack[-1].parts.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].texts.append(data)
        self.stack[-1].parts.append(data)


def parse_html(markup: str) -> Element:
    """The document's tree (unclosed elements end where an ancestor's end tag comes)."""
    builder = _Builder()
    builder.feed(markup)
    builder.close()
    return builder.root
