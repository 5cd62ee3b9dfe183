"""The Metronome-compatible v1 API, a sub-application mounted at ``/metronome``.

The official Metronome clients work against it with
``Metronome(bearer_token=<meterbill API key>, base_url="http://HOST:PORT/metronome")``.
What is supported, and every known difference from Metronome, is in
``docs/compat.md``.

Modules: ``application`` (the sub-app, its errors and the 404 for what is not implemented),
``usage`` (ingest and usage queries), ``customers``, ``metrics`` (billable metrics),
``invoices`` (invoices, breakdowns, void, credit types), ``shapes`` (rendering) and ``wire``
(JSON with exact numbers, cursors, parameters, access checks).
"""

from meterbill.api.metronome.application import create_app

__all__ = ["create_app"]
