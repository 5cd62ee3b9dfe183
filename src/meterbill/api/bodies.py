"""Request bodies read under a limit: never more than the limit is read or inflated.

:func:`read_body` refuses a declared ``Content-Length`` over the limit before reading a
byte, and otherwise counts the bytes while it streams them, stopping at the first one past
the limit. :func:`gunzip` inflates at most the limit plus one byte, whatever the compressed
body says (a 1 MB gzip bomb that inflates to 1 GB costs 8 MiB, not 1 GB). Both answer
413 ``too_large`` with the limit in the message. Callers check the key *before* they read.
"""

import zlib

from starlette.requests import Request

from meterbill.api.errors import ApiError
from meterbill.core.errors import InvalidRequest

__all__ = ["gunzip", "read_body", "too_large"]


def too_large(limit: int, what: str = "request body") -> ApiError:
    return ApiError(413, "too_large", f"{what} over {limit} bytes")


async def read_body(request: Request, limit: int) -> bytes:
    """The body of ``request``, or 413 as soon as it is known to be longer than ``limit``."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def gunzip(data: bytes, limit: int) -> bytes:
    """``data`` (one or more gzip members, as ``gzip.decompress`` reads them) inflated, or
    413 once the output passes ``limit`` bytes; 400 for anything that is not gzip."""
    out = bytearray()
    rest = data
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip header and trailer
        try:
            out += inflater.decompress(rest, limit + 1 - len(out))
        except zlib.error:
            raise InvalidRequest("body: not valid gzip") from None
        if len(out) > limit:
            raise too_large(limit, "decompressed request body")
        if not inflater.eof:
            # Output stopped short of the bound, so the input ran out: a truncated member.
            raise InvalidRequest("body: not valid gzip (truncated)")
        rest = inflater.unused_data.lstrip(b"\x00")  # gzip allows zero padding after members
        if not rest:
            return bytes(out)
