"""What the invoice page tests share: a small setup, its story, and an HTML reader.

One customer, "Zoë & Co <Café>" (a name that needs escaping and is not ASCII), on plan
``pro`` (month) from 2026-01-01:

* ``gib_written`` "Data written" (unit GiB), described "Data written on {cluster_id}":
  graduated, up to 1,000 at 0.10, then 0.0125;
* ``support`` "Support": flat 1,500.00;
* credits: ``welcome`` free 25.00 (drawn first), ``commit`` commit 40.00.

January: 12,345.5 written on c1 (tier 1 1,000 x 0.10 = 100.00, tier 2 11,345.5 x 0.0125 =
141.81875 → 141.82), 250 on c2 (25.00), support 1,500.00 → subtotal 1,766.82; free 25.00
and commit 40.00 → total 1,701.82; a payment of 500.00 leaves 1,201.82 due.
February: support 1,500.00 → total 1,500.00 (voided by the tests that need a void one).
March is the live draft at the clock, 2026-03-05.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser

__all__ = [
    "CUSTOMER",
    "CUSTOMER_NAME",
    "FIXED",
    "JANUARY_EVENTS",
    "MARCH_EVENTS",
    "SETUP_YAML",
    "Node",
    "parse_html",
]

FIXED = datetime(2026, 3, 5, tzinfo=UTC)
CUSTOMER = "cust-zoe"
CUSTOMER_NAME = "Zoë & Co <Café>"

SETUP_YAML = """\
settings:
  grace_period_hours: 24
meters:
  - key: bytes_written
    name: Bytes written
    event_type: produce
    aggregation: sum
    property: bytes
    group_by: [cluster_id]
products:
  - key: gib_written
    name: Data written
    description: "Data written on {cluster_id}"
    meter: bytes_written
    unit: GiB
    price:
      model: graduated
      tiers:
        - {up_to: "1000", unit_price: "0.10"}
        - {unit_price: "0.0125"}
  - key: support
    name: Support
    price: {model: flat, amount: "1500.00"}
plans:
  - {key: pro, name: Pro, interval: month, products: [gib_written, support]}
customers:
  - id: cust-zoe
    name: "Zoë & Co <Café>"
    billing_email: billing@zoe.example
    additional_billing_information: "VAT FR 12 345678901\\n12 rue de la Paix, Paris"
    subscriptions:
      - {plan: pro, starts_at: "2026-01-01T00:00:00Z"}
    credits:
      - {key: welcome, kind: free, amount: "25.00", starts_at: "2026-01-01T00:00:00Z",
         priority: 1}
      - {key: commit, kind: commit, amount: "40.00", starts_at: "2026-01-01T00:00:00Z",
         priority: 2}
"""


def _event(txn: str, timestamp: str, cluster: str, amount: str) -> dict[str, object]:
    return {
        "transaction_id": txn,
        "customer_id": CUSTOMER,
        "event_type": "produce",
        "timestamp": timestamp,
        "properties": {"cluster_id": cluster, "bytes": amount},
    }


JANUARY_EVENTS = (
    _event("jan-1", "2026-01-03T10:00:00Z", "c1", "12000"),
    _event("jan-2", "2026-01-20T10:00:00Z", "c1", "345.5"),
    _event("jan-3", "2026-01-21T10:00:00Z", "c2", "250"),
)
MARCH_EVENTS = (_event("mar-1", "2026-03-02T10:00:00Z", "c1", "10"),)

_VOID_TAGS = frozenset({"area", "br", "col", "hr", "img", "input", "link", "meta", "source", "wbr"})


@dataclass
class Node:
    """An element of a parsed page: its tag, attributes, children and text."""

    tag: str
    attrs: dict[str, str]
    children: list["Node | str"] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The element's text with whitespace collapsed (what a reader sees)."""
        parts = [child if isinstance(child, str) else child.text for child in self.children]
        return " ".join(" ".join(parts).split())

    def all(self, testid: str) -> list["Node"]:
        """Every descendant with ``data-testid=testid``, in document order."""
        found: list[Node] = []
        for child in self.children:
            if isinstance(child, Node):
                if child.attrs.get("data-testid") == testid:
                    found.append(child)
                found.extend(child.all(testid))
        return found

    def one(self, testid: str) -> "Node":
        found = self.all(testid)
        assert len(found) == 1, f"{len(found)} elements with data-testid={testid!r}"
        return found[0]

    def value(self, testid: str) -> str:
        """``data-value`` of the one element with ``data-testid=testid``."""
        return self.one(testid).attrs["data-value"]

    def elements(self) -> list["Node"]:
        """Every descendant element."""
        found: list[Node] = []
        for child in self.children:
            if isinstance(child, Node):
                found.append(child)
                found.extend(child.elements())
        return found


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID_TAGS:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID_TAGS:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_html(text: str) -> Node:
    """The page as a tree; every element must be closed where it should be."""
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root
