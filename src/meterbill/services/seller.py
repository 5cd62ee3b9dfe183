"""Who issues the invoices: the installation's ``seller`` setting.

The setup document's ``settings.seller`` (spec 6.6: ``name``, ``address``, ``email``,
``tax_id``, all optional) comes first; without it, the older ``meta`` key ``seller`` holds
JSON ``{"name": ..., "address": ..., "email": ...}`` (``address`` a string, lines separated
by ``\\n``, or a list of lines); without either the seller is "meterbill". The invoice
sheet and PDF (``views.pdf``) show it.
"""

from dataclasses import dataclass

from meterbill.db import Session
from meterbill.db import catalog as catalog_store
from meterbill.services.catalog import load_catalog
from meterbill.services.jsonio import JSONError, loads_exact

__all__ = ["DEFAULT_SELLER", "SELLER_KEY", "Seller", "seller_of", "text_lines"]

SELLER_KEY = "seller"


@dataclass(frozen=True, slots=True)
class Seller:
    """Who issues the invoices: the installation's ``seller`` setting."""

    name: str
    address: tuple[str, ...] = ()
    email: str | None = None
    tax_id: str | None = None


DEFAULT_SELLER = Seller(name="meterbill")


def text_lines(value: object) -> tuple[str, ...]:
    """A free-text block given as one string (lines split on ``\\n``) or a list of lines,
    as its non-blank lines, stripped; anything else is no lines."""
    if isinstance(value, str):
        return tuple(line.strip() for line in value.splitlines() if line.strip())
    if isinstance(value, list):
        return tuple(item.strip() for item in value if isinstance(item, str) and item.strip())
    return ()


def seller_of(session: Session) -> Seller:
    """The ``seller`` setting; missing or unreadable parts fall back to :data:`DEFAULT_SELLER`."""
    configured = load_catalog(session).catalog.settings.seller
    if configured is not None:
        return Seller(
            name=(configured.name or "").strip() or DEFAULT_SELLER.name,
            address=text_lines(configured.address or ""),
            email=(configured.email or "").strip() or None,
            tax_id=(configured.tax_id or "").strip() or None,
        )
    stored = catalog_store.get_meta(session, SELLER_KEY)
    if stored is None:
        return DEFAULT_SELLER
    try:
        value = loads_exact(stored)
    except JSONError:
        return DEFAULT_SELLER
    if not isinstance(value, dict):
        return DEFAULT_SELLER
    name = value.get("name")
    email = value.get("email")
    return Seller(
        name=name.strip() if isinstance(name, str) and name.strip() else DEFAULT_SELLER.name,
        address=text_lines(value.get("address")),
        email=email.strip() if isinstance(email, str) and email.strip() else None,
    )
