"""A firmware image to one EVSE over the link (protocols/LINK.md §4 FW_BEGIN / FW_CHUNK /
FW_END, answered by FW_STATUS):

    await send_image(link, image, "0.2.0")   # FW_BEGIN, FW_CHUNKs, FW_END(VERIFY)
    await apply(link)                        # FW_END(APPLY): swap at the next idle moment

FW_BEGIN carries the size, the SHA-256 the firmware re-checks and the version. Chunks start at
the `received` the firmware answers (0 for a new image, more when it resumes one it kept) and
follow its `received`: a chunk at another offset is answered ST_INVALID with the offset it
wants. After a link drop (no answer, EVSE offline) the sender waits for the EVSE to come back
and begins again with the same FW_BEGIN, continuing from the `received` of its answer.
Anything else the firmware refuses ends the transfer with a TransferError carrying its ST_*."""

import asyncio
import hashlib
import logging

from gateway.link.values import STATUS_NAMES, LinkError, LinkTimeout
from protocols import link_messages as lm

log = logging.getLogger(__name__)

CHUNK_BYTES = 243  # FW_CHUNK data 0..243 (a 250-byte message)
MAX_DROPS = 20  # link drops survived in one transfer
ONLINE_WAIT_S = 300.0  # how long a dropped EVSE is waited for
BUSY_WAIT_S = 1.0
MAX_BUSY = 30
MAX_STALLS = 5  # chunk answers that do not move `received` forward


class TransferError(LinkError):
    """The firmware refused (status ST_*, state FW_*), or the EVSE did not come back."""

    def __init__(self, why, status=lm.ST_FAILED, state=None):
        super().__init__(why)
        self.status = status
        self.state = state


def _check(f, what):
    if f["status"] != lm.ST_OK:
        raise TransferError("%s: %s (state %d, received %d)" % (
            what, STATUS_NAMES.get(f["status"], f["status"]), f["state"], f["received"]),
            f["status"], f["state"])
    return f


async def wait_online(link, timeout_s=ONLINE_WAIT_S):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not link.online:
        if loop.time() >= end:
            raise TransferError("EVSE %d did not come back in %.0f s" % (link.evse_id, timeout_s))
        await asyncio.sleep(0.2)


def supports_update(link):
    return link.peer is not None and bool(link.peer.capabilities & lm.CAP_FW_UPDATE)


async def send_image(link, image, version, on_progress=None, online_wait_s=ONLINE_WAIT_S):
    """-> the FW_STATUS fields of FW_END(VERIFY) (state FW_VERIFIED), or TransferError."""
    sha = hashlib.sha256(image).digest()
    begin = {"size": len(image), "sha256": sha, "version": version}
    drops = busy = stalls = 0
    while True:
        try:
            await wait_online(link, online_wait_s)
            if not supports_update(link):  # LINK.md §5.3: not to a firmware without it
                raise TransferError("EVSE %d has no CAP_FW_UPDATE" % link.evse_id,
                                    lm.ST_UNSUPPORTED)
            f = _check(await link._ask(lm.FW_BEGIN, lambda: begin), "FW_BEGIN")
            offset = min(f["received"], len(image))
            if offset:
                log.info("EVSE %d: firmware transfer resumes at %d of %d", link.evse_id,
                         offset, len(image))
            while offset < len(image):
                data = image[offset:offset + CHUNK_BYTES]
                f = await link._ask(lm.FW_CHUNK, lambda o=offset, d=data: {"offset": o,
                                                                            "data": d})
                if f["status"] == lm.ST_BUSY and busy < MAX_BUSY:
                    busy += 1
                    await asyncio.sleep(BUSY_WAIT_S)
                    continue
                if f["status"] not in (lm.ST_OK, lm.ST_INVALID):
                    _check(f, "FW_CHUNK at %d" % offset)
                if f["received"] > len(image):
                    raise TransferError("FW_CHUNK: received %d past the image's %d bytes"
                                        % (f["received"], len(image)))
                stalls = stalls + 1 if f["received"] <= offset else 0
                if stalls > MAX_STALLS:
                    raise TransferError("FW_CHUNK: the firmware stays at %d" % offset)
                offset = f["received"]  # ST_INVALID: the offset the firmware wants
                if on_progress is not None:
                    on_progress(offset, len(image))
            return _check(await link._ask(lm.FW_END, lambda: {"action": lm.FWE_VERIFY}),
                          "FW_END(VERIFY)")
        except LinkTimeout as e:
            drops += 1
            if drops > MAX_DROPS:
                raise TransferError("EVSE %d: %d link drops, giving up" % (link.evse_id,
                                                                           drops)) from e
            log.warning("EVSE %d: firmware transfer interrupted (%s): resuming once it is "
                        "back", link.evse_id, e)
            await asyncio.sleep(0.5)


async def apply(link):
    """FW_END(APPLY): the firmware verifies again and swaps at its next idle moment."""
    return _check(await link._ask(lm.FW_END, lambda: {"action": lm.FWE_APPLY}),
                  "FW_END(APPLY)")


async def abort(link):
    """FW_END(ABORT), best effort (the staged image is dropped; the running one stays)."""
    try:
        if link.online and supports_update(link):
            await link._ask(lm.FW_END, lambda: {"action": lm.FWE_ABORT})
    except LinkError as e:
        log.info("EVSE %d: FW_END(ABORT): %s", link.evse_id, e)
