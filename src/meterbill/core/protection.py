"""What a setup document may not change: anything an issued invoice was rated from (spec 5.2).

Pure: the caller supplies the stored catalog and customers, the new ones, and a summary of
every issued invoice that is not void (void invoices return their period to draft and
protect nothing). :func:`check_changes` raises :class:`Refused` naming the first refused
field's path and the issued invoice it would change; drafts are never protected.

Names, descriptions, line item types, billing details, aliases and resources are never
compared: they change how documents are shown, never an amount. Neither are taxes (the
``settings.taxes`` rates, a customer's ``taxes``, a product's ``tax_exempt``): an issued
invoice stores its tax lines, tax lines are never corrected, and late usage is taxed on
the invoice that carries it, with that invoice's taxes (spec 5.7), so a tax change alters
drafts only. A customer's discounts are compared by their effect: what applies to each
issued period, since late usage re-rates the period with them.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime

from meterbill.core.catalog import (
    Anchor,
    Catalog,
    CreditGrant,
    Customer,
    Discount,
    Price,
    Product,
    Subscription,
)
from meterbill.core.errors import Conflict
from meterbill.core.invoicing import PeriodRef, period_discounts
from meterbill.core.periods import Span, full_period

__all__ = ["IssuedInvoice", "Refused", "check_changes"]

# Fields that never decide an amount.
_SHOWN_ONLY = frozenset({"key", "name", "description", "line_item_type", "unit"})
# Product fields that decide only tax lines, which are never corrected (module docstring).
_TAX_ONLY = frozenset({"tax_exempt"})
# Where a record's field is spelt differently in the setup document.
_DOCUMENT_NAMES = {"event_types": "event_type"}
_GRANT_FIELDS = ("amount", "kind", "starts_at", "expires_at", "priority")


@dataclass(frozen=True, slots=True)
class IssuedInvoice:
    """An issued (or paid) invoice, as far as protection needs it: its number, customer,
    plan and period, the products on its lines and the credit grants it drew on."""

    number: int
    customer_id: str
    plan: str
    period: Span
    products: frozenset[str] = frozenset()
    grants: frozenset[str] = frozenset()


class Refused(Conflict):
    """A setup change that would alter an issued invoice (HTTP 409)."""

    code = "refused_change"

    def __init__(self, path: str, invoice: IssuedInvoice, hint: str) -> None:
        self.path = path
        self.invoice = invoice
        start = invoice.period.start.strftime("%Y-%m-%dT%H:%M:%SZ")
        end = invoice.period.end.strftime("%Y-%m-%dT%H:%M:%SZ")
        super().__init__(
            f"{path}: cannot change: issued invoice {invoice.number} (customer "
            f"{invoice.customer_id}, period {start} to {end}) was rated from it; {hint}"
        )


def check_changes(
    *,
    old: Catalog,
    new: Catalog,
    old_customers: Mapping[str, Customer],
    new_customers: Sequence[Customer],
    issued: Sequence[IssuedInvoice],
    path_of: Callable[[str, str], str],
) -> None:
    """Raise :class:`Refused` when applying ``new`` (and ``new_customers``) over ``old``
    would alter what an issued invoice in ``issued`` was rated from.

    ``path_of(section, key)`` names an object of the document (``products[0]``).
    """
    live = list(issued)
    if not live:
        return
    billed = _billed_products(old, live)
    for key, product in new.products.items():
        before = old.products.get(key)
        latest = _latest(billed.get(key, ()))
        if before is not None and latest is not None and before != product:
            _check_product(before, product, latest, path_of("products", key))
    for key, meter in new.meters.items():
        before_meter = old.meters.get(key)
        if before_meter is None or _changed_field(before_meter, meter) is None:
            continue
        on_meter = [
            invoice
            for product_key, invoices in billed.items()
            if old.products[product_key].meter == key
            for invoice in invoices
        ]
        latest = _latest(on_meter)
        if latest is not None:
            name = _changed_field(before_meter, meter)
            path = f"{path_of('meters', key)}.{_DOCUMENT_NAMES.get(name or '', name)}"
            raise Refused(path, latest, "define a new meter instead")
    for key, plan in new.plans.items():
        before_plan = old.plans.get(key)
        if before_plan is None or _changed_field(before_plan, plan) is None:
            continue
        latest = _latest(invoice for invoice in live if invoice.plan == key)
        if latest is not None:
            path = f"{path_of('plans', key)}.{_changed_field(before_plan, plan)}"
            raise Refused(path, latest, "define a new plan and move the subscription")
    for customer in new_customers:
        before_customer = old_customers.get(customer.id)
        if before_customer is None:
            continue
        own = [invoice for invoice in live if invoice.customer_id == customer.id]
        base = path_of("customers", customer.id)
        _check_subscriptions(old, before_customer, customer, own, base)
        _check_grants(before_customer, customer, own, base)
        _check_discounts(old, new, before_customer, customer, own, base)


def _latest(invoices: Iterable[IssuedInvoice]) -> IssuedInvoice | None:
    """The invoice with the latest period end (then the highest number)."""
    return max(invoices, key=lambda i: (i.period.end, i.number), default=None)


def _billed_products(
    old: Catalog, issued: Sequence[IssuedInvoice]
) -> dict[str, list[IssuedInvoice]]:
    """Per product, the issued invoices that billed it: it is on a line, or in the plan."""
    result: dict[str, list[IssuedInvoice]] = {}
    for invoice in issued:
        plan = old.plans.get(invoice.plan)
        keys = set(invoice.products) | set(plan.products if plan else ())
        for key in keys:
            if key in old.products:
                result.setdefault(key, []).append(invoice)
    return result


def _check_product(before: Product, after: Product, latest: IssuedInvoice, base: str) -> None:
    hint = (
        "add a price_changes entry effective at or after "
        f"{latest.period.end.strftime('%Y-%m-%dT%H:%M:%SZ')} instead"
    )
    for item in fields(Product):
        name = item.name
        if name in _SHOWN_ONLY or name in _TAX_ONLY or name in ("price", "price_changes"):
            continue
        old_value, new_value = getattr(before, name), getattr(after, name)
        if old_value != new_value:
            raise Refused(f"{base}.{name}", latest, hint)
    differs, moment = _first_price_difference(before, after)
    if not differs or (moment is not None and moment >= latest.period.end):
        return
    if moment is None:
        path = f"{base}.price{_difference(before.price, after.price)}"
        raise Refused(path, latest, hint)
    old_changes = {c.effective_from: c for c in before.price_changes}
    for index, change in enumerate(after.price_changes):
        if change.effective_from != moment:
            continue
        path = f"{base}.price_changes[{index}]"
        previous = old_changes.get(moment)
        if previous is None:
            raise Refused(f"{path}.effective_from", latest, hint)
        raise Refused(f"{path}.price{_difference(previous.price, change.price)}", latest, hint)
    raise Refused(f"{base}.price_changes", latest, hint)


def _first_price_difference(before: Product, after: Product) -> tuple[bool, datetime | None]:
    """Whether the two products' prices in force ever differ, and the earliest instant they
    do: None for "from the beginning" (the ``price`` in force before any change)."""
    if _in_force(before, None) != _in_force(after, None):
        return True, None
    moments = sorted(
        {c.effective_from for c in before.price_changes}
        | {c.effective_from for c in after.price_changes}
    )
    for moment in moments:
        if _in_force(before, moment) != _in_force(after, moment):
            return True, moment
    return False, None


def _in_force(product: Product, moment: datetime | None) -> Price:
    return product.price if moment is None else product.price_at(moment)


def _difference(old: object, new: object) -> str:
    """The path suffix of the first field where two values differ (``.tiers[1].unit_price``)."""
    if type(old) is not type(new):
        return ".model" if is_dataclass(old) else ""
    if is_dataclass(old) and not isinstance(old, type):
        for item in fields(old):
            a, b = getattr(old, item.name), getattr(new, item.name)
            if a != b:
                return f".{item.name}{_difference(a, b)}"
        return ""
    if isinstance(old, tuple) and isinstance(new, tuple):
        for index, (a, b) in enumerate(zip(old, new, strict=False)):
            if a != b:
                if isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], str):
                    return f".{a[0]}"  # a (name, value) pair: unit_prices, filters
                return f"[{index}]{_difference(a, b)}"
        return f"[{min(len(old), len(new))}]"
    return ""


def _changed_field(old: object, new: object) -> str | None:
    """The first field, other than a shown-only one, where two records differ; None if
    they differ in shown-only fields at most."""
    assert is_dataclass(old)
    assert not isinstance(old, type)
    for item in fields(old):
        if item.name in _SHOWN_ONLY:
            continue
        if getattr(old, item.name) != getattr(new, item.name):
            return item.name
    return None


def _of_subscription(
    catalog: Catalog, subscription: Subscription, invoices: Sequence[IssuedInvoice]
) -> list[IssuedInvoice]:
    return [
        invoice
        for invoice in invoices
        if invoice.plan == subscription.plan
        and subscription.starts_at < invoice.period.end
        and (subscription.ends_at is None or subscription.ends_at > invoice.period.start)
        and invoice.plan in catalog.plans
    ]


def _check_subscriptions(
    old: Catalog,
    before: Customer,
    after: Customer,
    invoices: Sequence[IssuedInvoice],
    base: str,
) -> None:
    for position, subscription in enumerate(before.subscriptions):
        latest = _latest(_of_subscription(old, subscription, invoices))
        if latest is None:
            continue
        path = f"{base}.subscriptions[{position}]"
        if position >= len(after.subscriptions):
            raise Refused(path, latest, "a subscription with issued invoices stays in the list")
        new = after.subscriptions[position]
        if new.plan != subscription.plan:
            raise Refused(f"{path}.plan", latest, "add a new subscription instead")
        if new.starts_at != subscription.starts_at:
            raise Refused(f"{path}.starts_at", latest, "add a new subscription instead")
        if new.ends_at == subscription.ends_at:
            continue
        end = latest.period.end
        hint = f"end it at or after {end.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        if new.ends_at is not None and new.ends_at < end:
            raise Refused(f"{path}.ends_at", latest, hint)
        if subscription.ends_at is not None and subscription.ends_at <= end:
            # The old end cut the latest issued period short: moving it changes that period.
            plan = old.plans[subscription.plan]
            anchored = subscription.starts_at if plan.anchor is Anchor.SUBSCRIPTION else None
            full = full_period(plan.interval, latest.period, anchored_at=anchored)
            if full != latest.period:
                raise Refused(f"{path}.ends_at", latest, "its last issued period ends there")


def _check_grants(
    before: Customer, after: Customer, invoices: Sequence[IssuedInvoice], base: str
) -> None:
    drawn: dict[str, list[IssuedInvoice]] = {}
    for invoice in invoices:
        for key in invoice.grants:
            # A recurring grant's occurrences are keyed "<key>/<start date>" (spec 5.5).
            drawn.setdefault(key.split("/")[0], []).append(invoice)
    if not drawn:
        return
    new_grants: dict[str, tuple[int, CreditGrant]] = {
        grant.key: (index, grant) for index, grant in enumerate(after.credits)
    }
    for grant in before.credits:
        latest = _latest(drawn.get(grant.key, ()))
        if latest is None:
            continue
        found = new_grants.get(grant.key)
        if found is None:
            raise Refused(f"{base}.credits", latest, f"grant {grant.key!r} must stay")
        index, new = found
        for name in (*_GRANT_FIELDS, "recurrence"):
            if getattr(grant, name) != getattr(new, name):
                raise Refused(f"{base}.credits[{index}].{name}", latest, "add a new grant instead")


# A discount's fields that decide what it takes from a period it applies to.
_DISCOUNT_AMOUNT = ("percent", "amount", "products")
# The fields that decide which periods it applies to.
_DISCOUNT_REACH = ("starts_at", "periods")


def _check_discounts(
    old: Catalog,
    new: Catalog,
    before: Customer,
    after: Customer,
    invoices: Sequence[IssuedInvoice],
    base: str,
) -> None:
    """Refuse a change of the customer's discounts that changes which discounts apply to
    an issued period, or what one of them takes (``percent``, ``amount``, ``products``):
    late usage re-rates the period with its discounts, so the change would be billed
    through its corrections. The latest such invoice is named. A discount may still be
    added from a later period on, end (``periods``) after the issued periods, or change
    while it applies to none of them."""
    positions = {discount.key: index for index, discount in enumerate(after.discounts)}
    earlier = {discount.key: discount for discount in before.discounts}
    for invoice in sorted(invoices, key=lambda i: (i.period.end, i.number), reverse=True):
        ref = PeriodRef(invoice.period, invoice.plan)
        was = {d.key: d for d in period_discounts(before, old, ref)}
        now = {d.key: d for d in period_discounts(after, new, ref)}
        for key in sorted(was.keys() | now.keys()):
            later = after.discounts[positions[key]] if key in positions else None
            field = _discount_change(was.get(key), now.get(key), earlier.get(key), later)
            if field is None:
                continue
            if later is None:
                raise Refused(
                    f"{base}.discounts",
                    invoice,
                    f"discount {key!r} must stay (limit its periods to end it)",
                )
            end = invoice.period.end.strftime("%Y-%m-%dT%H:%M:%SZ")
            path = f"{base}.discounts[{positions[key]}].{field}"
            raise Refused(path, invoice, f"add a discount starting at or after {end} instead")


def _discount_change(
    was: Discount | None, now: Discount | None, earlier: Discount | None, later: Discount | None
) -> str | None:
    """The field that changes what a discount does to one period; None when nothing does.

    ``was`` and ``now``: the discount as it applies to the period before and after the
    change (None: it does not apply); ``earlier`` and ``later``: the customer's discount of
    that key before and after (None: there is none).
    """
    if was is not None and now is not None:
        return next(
            (name for name in _DISCOUNT_AMOUNT if getattr(was, name) != getattr(now, name)),
            None,
        )
    if was is None and now is None:
        return None
    if earlier is None or later is None:
        return "starts_at"  # a new discount reaching the period (a removed one: the caller)
    return next(
        (name for name in _DISCOUNT_REACH if getattr(earlier, name) != getattr(later, name)),
        "starts_at",
    )
