"""The JSON response of every meterbill route: orjson bytes, datetimes as RFC 3339 Z.

Our payloads hold no floats (amounts are decimal strings or exact Decimals), so the
encoder is ``meterbill.services.jsonio.dumps``, which writes a ``Decimal`` exactly.
"""

from starlette.responses import Response

from meterbill.services.jsonio import dumps

__all__ = ["JsonResponse"]


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return dumps(content)
