"""Provider replies and results: capped reads under a total deadline, safe result URLs, data URIs, image decoding."""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import ipaddress
import json
import re
import socket
import urllib.parse
from typing import TYPE_CHECKING

from fluxcat.backends.hosted.secrets import ProviderError, scrub_and_cut

if TYPE_CHECKING:
    import httpx
    from PIL.Image import Image

MAX_IMAGE_PIXELS = 2048 * 2048 * 4  # decoded results larger than this are refused (decompression bombs)
ERROR_BODY_CHARS = 300
MAX_REDIRECTS = 5


async def read_capped(response: "httpx.Response", max_bytes: int, what: str) -> bytes:
    """The whole body of a streamed response, refusing more than max_bytes (declared or actually sent)."""
    declared = int(response.headers.get("content-length") or 0)
    if declared > max_bytes:
        raise ProviderError(f"{what} is {declared} bytes, over the cap of {max_bytes}", circuit=False)
    chunks, total = [], 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise ProviderError(f"{what} exceeds the cap of {max_bytes} bytes", circuit=False)
        chunks.append(chunk)
    return b"".join(chunks)


def buffered(response: "httpx.Response", body: bytes) -> "httpx.Response":
    """A plain response holding an already read (and decoded) body."""
    import httpx

    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in ("content-encoding", "content-length",
                                                                                       "transfer-encoding")]
    return httpx.Response(response.status_code, headers=headers, content=body, request=response.request)


async def within(seconds: float, coroutine, what: str):
    """Await with a total deadline: a reply that trickles a byte a second cannot hold a row past it."""
    try:
        return await asyncio.wait_for(coroutine, seconds)
    except asyncio.TimeoutError:
        raise ProviderError(f"{what} took longer than its total deadline of {seconds:g}s", retryable=True) from None


def provider_message(response: "httpx.Response") -> str:
    """The provider's own error text (JSON detail/error/message, else the body), scrubbed, then short."""
    text = response.text if response.content is not None else ""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("detail", "error", "message", "title"):
            if body.get(key):
                value = body[key]
                text = value if isinstance(value, str) else json.dumps(value)
                break
    text = re.sub(r"\s+", " ", text).strip()
    return scrub_and_cut(text or response.reason_phrase or "no message", ERROR_BODY_CHARS)


# -- where results may come from

async def _addresses(host: str) -> list[ipaddress._BaseAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []  # unresolvable: the download itself will fail with a clear connection error
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def _internal_kinds(addresses) -> set[str]:
    kinds = set()
    for address in addresses:
        if address.is_link_local:
            kinds.add("link-local")
        if address.is_loopback or address.is_unspecified:
            kinds.add("loopback")
    return kinds


async def check_result_url(url: str, allowed_kinds: set[str], provider: str) -> None:
    """Refuse non-http(s) result URLs and hosts on link-local or loopback addresses (cloud metadata services),
    unless the provider's own base URL is on such addresses (a proxy or test double)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ProviderError(f"{provider} returned a {parts.scheme or 'relative'}: result URL; only http(s) is downloaded",
                            circuit=False)
    refused = _internal_kinds(await _addresses(parts.hostname or "")) - allowed_kinds
    if refused:
        raise ProviderError(f"{provider} result URL points at a {', '.join(sorted(refused))} address "
                            f"({parts.hostname}); refused", circuit=False)


async def base_url_kinds(base_url: str) -> set[str]:
    """Which internal address kinds the backend's own base URL is on (those stay allowed for its results)."""
    return _internal_kinds(await _addresses(urllib.parse.urlsplit(base_url).hostname or ""))


# -- decoding

def decode_data_uri(uri: str, max_bytes: int) -> bytes:
    """The bytes of a base64 data: URI (images only), size-capped."""
    header, sep, payload = uri.partition(",")
    if not sep or ";base64" not in header:
        raise ProviderError("result data: URI is not base64-encoded", circuit=False)
    media = header[5:].split(";")[0].lower()
    if media and not media.startswith("image/"):
        raise ProviderError(f"result data: URI holds {media}, not an image", circuit=False)
    if len(payload) * 3 // 4 > max_bytes:
        raise ProviderError(f"result data: URI exceeds download_max_bytes={max_bytes}", circuit=False)
    return decode_base64(payload)


def decode_base64(payload: str) -> bytes:
    try:
        return base64.b64decode(payload.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ProviderError("result is not valid base64", circuit=False) from None


def decode_image(data: bytes, provider: str) -> "Image":
    """Decode bytes with PIL, refusing non-images and oversized pictures."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        if image.size[0] * image.size[1] > MAX_IMAGE_PIXELS:
            raise ProviderError(f"{provider} result is {image.size[0]}x{image.size[1]} pixels, too large", circuit=False)
        image.load()
    except ProviderError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise ProviderError(f"{provider} result is not a decodable image ({type(error).__name__})", circuit=False) from None
    return image


def is_image_type(content_type: str) -> bool:
    return content_type.startswith("image/") or content_type in ("application/octet-stream", "binary/octet-stream")


def content_type_of(response: "httpx.Response") -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()
