"""Fetch a firmware package from the location of an update request (http:// or https://).

https is checked against the system's roots plus the installed CSMSRootCertificates (the
files gateway/certificates.py keeps; tests install their test CA that way), TLS 1.2 or
later, host name checked. A package over MAX_PACKAGE_BYTES, another scheme, an HTTP error or
a short read is a DownloadError; the update job retries per the request (retries,
retryInterval)."""

import asyncio
import http.client
import ssl
import urllib.error
import urllib.request
from urllib.parse import urlsplit

MAX_PACKAGE_BYTES = 4 << 20  # a MicroPython bundle is tens of KB; the link carries u32 sizes
TIMEOUT_S = 30


class DownloadError(Exception):
    pass


def check_location(url):
    """ValueError when the location cannot be downloaded from by this station."""
    if not isinstance(url, str) or len(url) > 512:
        raise ValueError("location must be a URL of at most 512 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("location %r: only http:// and https:// URLs are supported" % url)


def _context(ca_files):
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    for f in ca_files:
        ctx.load_verify_locations(cafile=str(f))
    return ctx


def fetch_sync(url, ca_files=(), timeout_s=TIMEOUT_S, max_bytes=MAX_PACKAGE_BYTES):
    try:
        check_location(url)
    except ValueError as e:
        raise DownloadError(str(e)) from None
    ctx = _context(ca_files) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(url, timeout=timeout_s, context=ctx) as r:
            length = r.headers.get("Content-Length")
            if length is not None and int(length) > max_bytes:
                raise DownloadError("package of %s bytes is over %d" % (length, max_bytes))
            data = r.read(max_bytes + 1)
    except (urllib.error.URLError, OSError, ValueError, ssl.SSLError,
            http.client.HTTPException) as e:  # InvalidURL of a port or host it refuses
        raise DownloadError("%s: %s" % (url, getattr(e, "reason", e))) from None
    if len(data) > max_bytes:
        raise DownloadError("package over %d bytes" % max_bytes)
    if length is not None and len(data) != int(length):
        raise DownloadError("short read: %d of %s bytes" % (len(data), length))
    if not data:
        raise DownloadError("empty package")
    return data


async def fetch(url, ca_files=(), timeout_s=TIMEOUT_S, max_bytes=MAX_PACKAGE_BYTES):
    return await asyncio.to_thread(fetch_sync, url, tuple(ca_files), timeout_s, max_bytes)
