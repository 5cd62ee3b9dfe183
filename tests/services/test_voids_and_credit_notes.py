"""Void and reissue, write-offs and credit notes through the services (spec 5.6), on SQLite
and PostgreSQL. Every expectation is computed by hand: ``calls`` costs 1.00 a call."""

import threading
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from meterbill.core.errors import BillingError, Conflict, NotFound, OutOfRange
from meterbill.db.database import Database
from meterbill.services.invoicing import (
    InvoiceView,
    customer_invoices,
    issue_credit_note,
    record_payment,
    resolve_invoice,
    void_invoice,
)
from meterbill.views.invoice import invoice_document
from tests.services.support import World, amounts, call, open_world, setup

JAN = "2026-01-01T00:00:00Z"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def document(*, credits: list[dict[str, object]] | None = None) -> dict[str, object]:
    customers: list[dict[str, object]] = [
        {
            "id": "acme",
            "name": "Acme",
            "subscriptions": [{"plan": "basic", "starts_at": JAN}],
            "credits": credits or [],
        },
        {"id": "beta", "name": "Beta", "subscriptions": [{"plan": "basic", "starts_at": JAN}]},
    ]
    return setup(customers)


def calls(prefix: str, when: str, count: int, customer: str = "acme") -> list[dict[str, object]]:
    return [call(f"{prefix}{i}", when, customer=customer) for i in range(count)]


def number(view: InvoiceView) -> int:
    assert view.number is not None
    return view.number


def void(world: World, invoice: int, *, write_off: bool = False, now: str) -> InvoiceView:
    with world.database.transaction() as session:
        return void_invoice(
            session, resolve_invoice(session, str(invoice)), now=at(now), write_off=write_off
        )


def credit(world: World, invoice: int, amount: str, *, when: str) -> int:
    with world.database.transaction() as session:
        note = issue_credit_note(
            session,
            resolve_invoice(session, str(invoice)),
            amount=D(amount),
            reason="goodwill",
            at=at(when),
            now=at(when),
        )
    return note.number


def pay(world: World, invoice: int, amount: str, *, when: str) -> InvoiceView:
    with world.database.transaction() as session:
        return record_payment(
            session, resolve_invoice(session, str(invoice)), amount=D(amount), now=at(when)
        )


def summary(views: list[InvoiceView]) -> list[tuple[int | None, str, str, int | None]]:
    return [
        (view.number, view.status, view.ref.period.start.strftime("%m-%d"), view.replaces)
        for view in views
    ]


def test_a_void_returns_its_period_to_draft_and_the_next_close_reissues_it(db_url: str) -> None:
    credits: list[dict[str, object]] = [
        {"key": "free", "kind": "free", "amount": "5", "starts_at": JAN}
    ]
    with open_world(db_url, document(credits=credits), now=at("2026-01-01T00:00:00")) as world:
        world.ingest(calls("j", "2026-01-10T00:00:00Z", 10), now=at("2026-01-10T00:00:00"))
        [first] = [
            v for v in world.close(at("2026-02-02T00:00:00")).issued if v.customer.id == "acme"
        ]
        assert (first.number, first.totals.credits_applied, first.totals.total) == (1, D(5), D(5))
        voided = void(world, 1, now="2026-02-03T00:00:00")
        assert (voided.status, voided.voided_at) == ("void", at("2026-02-03T00:00:00"))
        views = world.invoices("acme", as_of=at("2026-02-03T00:00:00"))
        # January is a draft again, under an id of its own, and draws the credit again.
        assert summary(views) == [
            (1, "void", "01-01", None),
            (None, "draft", "01-01", 1),
            (None, "draft", "02-01", None),
        ]
        assert views[1].id != views[0].id
        assert views[1].totals.credits_applied == D(5)
        # A late January event counts on the replacement.
        world.ingest(calls("late", "2026-01-20T00:00:00Z", 2), now=at("2026-02-04T00:00:00"))
        world.ingest(calls("f", "2026-02-10T00:00:00Z", 3), now=at("2026-02-10T00:00:00"))
        result = world.close(at("2026-03-02T00:00:00"))
        issued = sorted((v.number, v.customer.id, v.replaces) for v in result.issued)
        # beta's January was #2; numbers stay gap-free, the void keeps #1, acme first.
        assert issued == [(3, "acme", 1), (4, "acme", None), (5, "beta", None)]
        views = world.invoices("acme", as_of=at("2026-03-02T00:00:00"))
        void_view, replacement, february = views[0], views[1], views[2]
        assert (void_view.number, void_view.replaced_by) == (1, 3)
        assert (replacement.number, replacement.replaces, replacement.status) == (3, 1, "issued")
        assert amounts(replacement) == [("Calls", D("12.00"))]
        assert (replacement.totals.credits_applied, replacement.totals.total) == (D(5), D(7))
        assert amounts(february) == [("Calls", D("3.00"))]
        assert february.totals.credits_applied == D(0)


def test_a_replacement_deducts_late_usage_another_invoice_billed(db_url: str) -> None:
    with open_world(db_url, document(), now=at("2026-01-01T00:00:00")) as world:
        world.ingest(calls("j", "2026-01-10T00:00:00Z", 10), now=at("2026-01-10T00:00:00"))
        world.close(at("2026-02-02T00:00:00"))  # acme #1, beta #2
        world.ingest(calls("late", "2026-01-20T00:00:00Z", 2), now=at("2026-02-03T00:00:00"))
        world.ingest(calls("f", "2026-02-10T00:00:00Z", 3), now=at("2026-02-10T00:00:00"))
        world.close(at("2026-03-02T00:00:00"))  # acme #3 (February), beta #4
        views = world.invoices("acme", as_of=at("2026-03-02T00:00:00"))
        assert amounts(views[1]) == [
            ("Calls", D("3.00")),
            ("Calls (late usage, 2026-01-01)", D("2.00")),
        ]
        void(world, 1, now="2026-03-03T00:00:00")
        world.ingest(calls("later", "2026-01-25T00:00:00Z", 1), now=at("2026-03-04T00:00:00"))
        views = world.invoices("acme", as_of=at("2026-03-05T00:00:00"))
        draft = next(v for v in views if v.status == "draft" and v.replaces == 1)
        # All 13 January calls, less the 2 that invoice 3 billed as corrections.
        assert amounts(draft) == [
            ("Calls", D("13.00")),
            ("Calls (billed on invoice 3)", D("-2.00")),
        ]
        assert [line.quantity for line in draft.lines] == [D(13), D(-2)]
        assert draft.totals.total == D(11)
        world.close(at("2026-04-02T00:00:00"))
        views = world.invoices("acme", as_of=at("2026-04-02T00:00:00"))
        assert summary(views) == [
            (1, "void", "01-01", None),
            (5, "issued", "01-01", 1),
            (3, "issued", "02-01", None),
            (6, "paid", "03-01", None),  # no March usage: 0.00, paid at once
            (None, "draft", "04-01", None),
        ]
        # Nothing of January is billed twice, nor corrected again.
        january = sum(
            (
                line.amount
                for v in views
                if v.status != "void"
                for line in v.lines
                if (line.corrects is None and v.ref.period.start == at("2026-01-01T00:00:00"))
                or line.corrects == at("2026-01-01T00:00:00")
            ),
            D(0),
        )
        assert january == D(13)
        assert amounts(views[3]) == []


def test_a_taxed_replacement_is_taxed_on_what_it_bills_net_of_its_deductions(
    db_url: str,
) -> None:
    """Spec 5.6 with 6.5: late usage is taxed where it is billed, so a replacement's tax is
    on its own lines less what another invoice already billed (and taxed)."""
    taxed = document()
    taxed["settings"] = {"taxes": [{"key": "vat20", "name": "VAT 20%", "rate": "0.20"}]}
    customers = taxed["customers"]
    assert isinstance(customers, list)
    customers[0]["taxes"] = ["vat20"]
    with open_world(db_url, taxed, now=at("2026-01-01T00:00:00")) as world:
        world.ingest(calls("j", "2026-01-10T00:00:00Z", 10), now=at("2026-01-10T00:00:00"))
        world.close(at("2026-02-02T00:00:00"))  # acme #1: 10.00 + 2.00 tax
        world.ingest(calls("late", "2026-01-20T00:00:00Z", 2), now=at("2026-02-03T00:00:00"))
        world.ingest(calls("f", "2026-02-10T00:00:00Z", 3), now=at("2026-02-10T00:00:00"))
        world.close(at("2026-03-02T00:00:00"))  # acme #3: 3.00 + 2.00 late + 1.00 tax
        views = world.invoices("acme", as_of=at("2026-03-02T00:00:00"))
        assert [(v.number, v.totals.tax, v.totals.total) for v in views[:2]] == [
            (1, D("2.00"), D("12.00")),
            (3, D("1.00"), D("6.00")),
        ]
        void(world, 1, now="2026-03-03T00:00:00")
        world.close(at("2026-04-02T00:00:00"))
        views = world.invoices("acme", as_of=at("2026-04-02T00:00:00"))
        replacement = next(v for v in views if v.replaces == 1)
        # 12 calls less the 2 invoice 3 billed: 10.00, taxed 20 % = 2.00.
        assert amounts(replacement) == [
            ("Calls", D("12.00")),
            ("Calls (billed on invoice 3)", D("-2.00")),
            ("VAT 20%", D("2.00")),
        ]
        assert (replacement.number, replacement.status) == (5, "issued")
        assert (replacement.totals.tax, replacement.totals.total) == (D("2.00"), D("12.00"))
        document_ = invoice_document(replacement)
        assert (document_["tax"], document_["total"], document_["amount_due"]) == (
            "2.00",
            "12.00",
            "12.00",
        )


def test_voiding_an_invoice_gives_back_the_corrections_it_carried(db_url: str) -> None:
    with open_world(db_url, document(), now=at("2026-01-01T00:00:00")) as world:
        world.ingest(calls("j", "2026-01-10T00:00:00Z", 10), now=at("2026-01-10T00:00:00"))
        world.close(at("2026-02-02T00:00:00"))  # acme #1
        world.ingest(calls("late", "2026-01-20T00:00:00Z", 2), now=at("2026-02-03T00:00:00"))
        world.close(at("2026-03-02T00:00:00"))  # acme #3 carries January's 2 late calls
        void(world, 3, now="2026-03-03T00:00:00")
        views = world.invoices("acme", as_of=at("2026-03-03T00:00:00"))
        february = next(v for v in views if v.status == "draft" and v.replaces == 3)
        assert amounts(february) == [("Calls (late usage, 2026-01-01)", D("2.00"))]


def test_a_write_off_bills_the_period_never_again(db_url: str) -> None:
    with open_world(db_url, document(), now=at("2026-01-01T00:00:00")) as world:
        world.ingest(calls("j", "2026-01-10T00:00:00Z", 10), now=at("2026-01-10T00:00:00"))
        world.close(at("2026-02-02T00:00:00"))
        written = void(world, 1, write_off=True, now="2026-02-03T00:00:00")
        assert (written.status, written.written_off) == ("void", True)
        views = world.invoices("acme", as_of=at("2026-02-03T00:00:00"))
        assert summary(views) == [(1, "void", "01-01", None), (None, "draft", "02-01", None)]
        world.ingest(calls("late", "2026-01-20T00:00:00Z", 2), now=at("2026-02-04T00:00:00"))
        world.ingest(calls("f", "2026-02-10T00:00:00Z", 3), now=at("2026-02-10T00:00:00"))
        result = world.close(at("2026-03-02T00:00:00"))
        acme = [v for v in result.issued if v.customer.id == "acme"]
        assert [(v.number, v.ref.period.start.month) for v in acme] == [(3, 2)]
        assert amounts(acme[0]) == [("Calls", D("3.00"))]


def test_a_credit_note_on_an_unpaid_invoice_reduces_the_amount_due(db_url: str) -> None:
    with open_world(db_url, document(), now=at("2026-01-01T00:00:00")) as world:
        world.ingest(calls("j", "2026-01-10T00:00:00Z", 10), now=at("2026-01-10T00:00:00"))
        world.close(at("2026-02-02T00:00:00"))
        assert credit(world, 1, "4", when="2026-02-05T00:00:00") == 1
        [invoice, _] = world.invoices("acme", as_of=at("2026-02-05T00:00:00"))
        assert (invoice.status, invoice.credit_notes, invoice.amount_due) == ("issued", D(4), D(6))
        with pytest.raises(OutOfRange, match=r"above the amount due, 6\.00"):
            pay(world, 1, "6.01", when="2026-02-06T00:00:00")
        paid = pay(world, 1, "6", when="2026-02-06T00:00:00")
        assert (paid.status, paid.amount_due, paid.paid_at) == (
            "paid",
            D(0),
            at("2026-02-06T00:00:00"),
        )
        # Nothing became a grant: February draws nothing.
        world.ingest(calls("f", "2026-02-10T00:00:00Z", 3), now=at("2026-02-10T00:00:00"))
        february = world.invoices("acme", as_of=at("2026-02-10T00:00:00"))[1]
        assert february.totals.credits_applied == D(0)


def test_credit_notes_covering_what_is_due_mark_the_invoice_paid(db_url: str) -> None:
    with open_world(db_url, document(), now=at("2026-01-01T00:00:00")) as world:
        world.ingest(calls("j", "2026-01-10T00:00:00Z", 10), now=at("2026-01-10T00:00:00"))
        world.close(at("2026-02-02T00:00:00"))
        pay(world, 1, "3", when="2026-02-03T00:00:00")
        credit(world, 1, "7", when="2026-02-04T00:00:00")
        [invoice, _] = world.invoices("acme", as_of=at("2026-02-05T00:00:00"))
        assert (invoice.status, invoice.amount_due, invoice.paid_at) == (
            "paid",
            D(0),
            at("2026-02-04T00:00:00"),
        )


def test_a_credit_note_on_a_paid_invoice_becomes_a_grant_paying_first(db_url: str) -> None:
    credits: list[dict[str, object]] = [
        {
            "key": "free",
            "kind": "free",
            "amount": "100",
            "starts_at": "2026-03-01T00:00:00Z",
            "priority": 1,
        }
    ]
    with open_world(db_url, document(credits=credits), now=at("2026-01-01T00:00:00")) as world:
        world.ingest(
            calls("b", "2026-01-10T00:00:00Z", 10, customer="beta"), now=at("2026-01-10T00:00:00")
        )
        world.close(at("2026-02-02T00:00:00"))  # acme #1 (0.00, paid), beta #2
        pay(world, 2, "10", when="2026-02-03T00:00:00")
        assert credit(world, 2, "6", when="2026-02-05T00:00:00") == 1
        beta = world.invoices("beta", as_of=at("2026-02-05T00:00:00"))
        assert (beta[0].status, beta[0].credit_notes, beta[0].amount_due) == ("paid", D(6), D(0))
        world.ingest(
            calls("bf", "2026-02-10T00:00:00Z", 4, customer="beta"), now=at("2026-02-10T00:00:00")
        )
        world.ingest(
            calls("bm", "2026-03-10T00:00:00Z", 5, customer="beta"), now=at("2026-03-10T00:00:00")
        )
        views = world.invoices("beta", as_of=at("2026-03-10T00:00:00"))
        february, march = views[1], views[2]
        assert [(u.grant, u.kind.value, u.amount) for u in february.totals.credits] == [
            ("credit-note-1", "credit_note", D(4))
        ]
        assert (february.totals.total, february.totals.credit_balance_after) == (D(0), D(2))
        assert [(u.grant, u.amount) for u in march.totals.credits] == [("credit-note-1", D(2))]
        assert march.totals.total == D(3)
        # acme: a grant of priority 0 still pays before acme's own priority-1 grant.
        world.ingest(calls("a", "2026-02-10T00:00:00Z", 10), now=at("2026-02-10T00:00:00"))
        world.close(at("2026-03-02T00:00:00"))  # acme #3 (10.00), beta #4
        pay(world, 3, "10", when="2026-03-03T00:00:00")
        assert credit(world, 3, "10", when="2026-03-03T00:00:00") == 2
        world.ingest(calls("am", "2026-03-10T00:00:00Z", 4), now=at("2026-03-10T00:00:00"))
        march = world.invoices("acme", as_of=at("2026-03-10T00:00:00"))[-1]
        assert [(u.grant, u.amount) for u in march.totals.credits] == [("credit-note-2", D(4))]


def test_a_credit_note_grant_pays_only_periods_ending_after_its_time(db_url: str) -> None:
    with open_world(db_url, document(), now=at("2026-01-01T00:00:00")) as world:
        world.ingest(calls("j", "2026-01-10T00:00:00Z", 10), now=at("2026-01-10T00:00:00"))
        world.ingest(calls("f", "2026-02-10T00:00:00Z", 3), now=at("2026-02-10T00:00:00"))
        world.close(at("2026-02-02T00:00:00"))
        pay(world, 1, "10", when="2026-02-03T00:00:00")
        credit(world, 1, "5", when="2026-03-05T00:00:00")  # dated in March
        views = world.invoices("acme", as_of=at("2026-03-10T00:00:00"))
        assert views[1].totals.credits_applied == D(0)  # February ends before 5 March


def test_refused_credit_notes_and_voids_take_no_number_and_change_nothing(db_url: str) -> None:
    with open_world(db_url, document(), now=at("2026-01-01T00:00:00")) as world:
        world.ingest(calls("j", "2026-01-10T00:00:00Z", 10), now=at("2026-01-10T00:00:00"))
        world.close(at("2026-02-02T00:00:00"))  # acme #1 (10.00), beta #2 (0.00, paid)
        refusals: list[tuple[int, str, type[BillingError], str]] = [
            (1, "0", OutOfRange, "must be above 0"),
            (1, "-1", OutOfRange, "must be above 0"),
            (1, "10.01", OutOfRange, "still allows, 10.00"),
            (1, "0.001", OutOfRange, "more decimals"),
            (2, "1", OutOfRange, "still allows, 0.00"),
        ]
        for invoice, amount, error, message in refusals:
            with pytest.raises(error, match=message):
                credit(world, invoice, amount, when="2026-02-03T00:00:00")
        with world.database.transaction() as session:
            draft = customer_invoices(session, "acme", as_of=at("2026-02-03T00:00:00"))[1]
            with pytest.raises(NotFound, match="drafts cannot get credit notes"):
                issue_credit_note(
                    session, draft.id, amount=D(1), reason="r", at=at(JAN[:-1]), now=at(JAN[:-1])
                )
        assert credit(world, 1, "2", when="2026-02-03T00:00:00") == 1
        with pytest.raises(Conflict, match="has credit notes"):
            void(world, 1, now="2026-02-04T00:00:00")
        with pytest.raises(OutOfRange, match=r"still allows, 8\.00"):
            credit(world, 1, "8.5", when="2026-02-03T00:00:00")
        assert credit(world, 1, "8", when="2026-02-03T00:00:00") == 2
        with pytest.raises(OutOfRange, match=r"still allows, 0\.00"):
            credit(world, 1, "0.01", when="2026-02-03T00:00:00")
        # A void invoice takes no credit note; a paid one cannot be voided.
        world.ingest(calls("f", "2026-02-10T00:00:00Z", 3), now=at("2026-02-10T00:00:00"))
        world.close(at("2026-03-02T00:00:00"))  # acme #3, beta #4
        void(world, 3, now="2026-03-03T00:00:00")
        with pytest.raises(Conflict, match="invoice 3 is void"):
            credit(world, 3, "1", when="2026-03-03T00:00:00")
        with pytest.raises(Conflict, match="invoice 3 is void"):
            void(world, 3, now="2026-03-03T00:00:00")
        with pytest.raises(Conflict, match="invoice 2 is paid"):
            void(world, 2, now="2026-03-03T00:00:00")
        world.close(at("2026-03-05T00:00:00"))
        views = world.invoices("acme", as_of=at("2026-03-05T00:00:00"))
        assert [(v.number, v.status) for v in views if v.number] == [
            (1, "paid"),
            (3, "void"),
            (5, "issued"),
        ]


def test_a_paid_invoice_with_payments_cannot_be_voided(db_url: str) -> None:
    with open_world(db_url, document(), now=at("2026-01-01T00:00:00")) as world:
        world.ingest(calls("j", "2026-01-10T00:00:00Z", 10), now=at("2026-01-10T00:00:00"))
        world.close(at("2026-02-02T00:00:00"))
        pay(world, 1, "1", when="2026-02-03T00:00:00")
        with pytest.raises(Conflict, match="invoice 1 has payments"):
            void(world, 1, now="2026-02-04T00:00:00")


def test_concurrent_credit_notes_are_numbered_gap_free(db_url: str) -> None:
    with open_world(db_url, document(), now=at("2026-01-01T00:00:00")) as world:
        world.ingest(calls("j", "2026-01-10T00:00:00Z", 10), now=at("2026-01-10T00:00:00"))
        world.ingest(
            calls("b", "2026-01-10T00:00:00Z", 10, customer="beta"), now=at("2026-01-10T00:00:00")
        )
        world.close(at("2026-02-02T00:00:00"))  # acme #1 and beta #2, 10.00 each
        numbers: list[int] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(4)

        def issue(invoice: int, amount: str) -> None:
            database = Database(db_url)
            try:
                barrier.wait(timeout=30)
                for _ in range(3):
                    numbers.append(credit_on(database, invoice, amount))
            except BaseException as error:
                errors.append(error)
            finally:
                database.dispose()

        # 4 threads x 3 notes of 1.00 on two invoices of 10.00: 12 numbers, then refusals.
        threads = [threading.Thread(target=issue, args=(1 + i % 2, "1")) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        assert sorted(numbers) == list(range(1, 13))
        with pytest.raises(OutOfRange):
            credit(world, 1, "4.01", when="2026-02-04T00:00:00")
        assert credit(world, 1, "4", when="2026-02-04T00:00:00") == 13


def credit_on(database: Database, invoice: int, amount: str) -> int:
    with database.transaction() as session:
        return issue_credit_note(
            session,
            resolve_invoice(session, str(invoice)),
            amount=D(amount),
            reason="concurrent",
            at=at("2026-02-03T00:00:00"),
            now=at("2026-02-03T00:00:00"),
        ).number
