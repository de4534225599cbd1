"""Security (AG-01, UK reg 12 and Schedule 1) at the charger and in the documents: UK-S6
input validation on the link, UK-S8 tamper detection, UK-S11 the security information the
product ships. The checks through the gateway and the CSMS (AG-01, UK-S1, UK-S3, UK-S4,
UK-S7, UK-S9, UK-S10) are in security_station.py, UK-S2 and UK-S5 in secure_link.py."""

import re
import subprocess
import sys
from pathlib import Path

from conformance.checks.common import QUICK, offered_ma, plug_and_charge
from conformance.registry import check
from conformance.result import NotShown
from protocols import link
from protocols import link_messages as lm

REPO = Path(__file__).resolve().parents[2]


@check("UK-S6", needs=("pilot", "link"))
def link_input_validation(target, r):
    """Schedule 1 para 6 (data inputs): garbage bytes, frames with a bad CRC, an unknown
    message type, a wrong protocol major and a limit out of range on the gateway link are
    dropped or refused; the charge goes on unchanged and a valid request still works."""
    lab = target.lab(settings=QUICK)
    lab.link_connect()
    plug_and_charge(lab, r)
    lab.limit(lm.SRC_CSMS, 16000)
    lab.advance(2000)
    before = lab.duty_permille()
    good = link.encode_frame(lm.LIMIT, {"entity": lm.SRC_CSMS, "generation": 50,
                                        "limit_ma": 6000, "duration_s": 0})
    bad_crc = bytearray(good)
    bad_crc[3] ^= 0x55
    wrong_major = bytearray(link.encode(lm.LIMIT, {"entity": lm.SRC_CSMS, "generation": 51,
                                                   "limit_ma": 6000, "duration_s": 0}))
    wrong_major[0] = lm.PROTOCOL_MAJOR + 1
    inputs = (("garbage", bytes(range(1, 256)) * 4 + b"\x00"), ("bad CRC", bytes(bad_crc)),
              ("unknown type", link.frame(bytes((lm.PROTOCOL_MAJOR, 250, 0, 1, 2)))),
              ("wrong major", link.frame(bytes(wrong_major))))
    for what, data in inputs:
        lab.link_raw(data)
        lab.advance(500)
        r.measure("after %s: duty (unchanged)" % what, lab.duty_permille(), "permille", "==",
                  before)
    r.expect(lab.contactor_closed(), "still charging after the bad input")
    lab.limit(lm.SRC_CSMS, 0x7FFFFFFF)
    lab.advance(1000)
    r.measure("absurd limit 2147483647 mA: offered (capped by the hardware)", offered_ma(lab),
              "mA", "<=", 32000)
    lab.limit(lm.SRC_CSMS, 10000)
    lab.advance(1000)
    r.measure("a valid 10 A limit afterwards: offered", offered_ma(lab), "mA", "<=", 10000)


TAMPER_REPORT_MS = 1000


def _within_ms(r, name, t, limit_ms):
    """A time against its limit; one that never came fails (it is not a -1 below it)."""
    if t is None:
        return r.expect(False, "%s: not seen within 5000 ms" % name)
    return r.measure(name, t, "ms", "<=", limit_ms)


@check("UK-S8", needs=("pilot", "link", "tamper"))
def tamper_detected_and_logged(target, r):
    """Schedule 1 para 8 (tamper detection): during a charge the enclosure's lid is taken
    off. The firmware reports it up the link as an EV_SECURITY event (SEC_TAMPER_OPEN)
    within 1 s and the charge goes on unaffected (detection and logging, not an
    interlock: docs/hardware.md "Tamper"); closing the lid is the SEC_TAMPER_CLOSED
    event."""
    lab = target.lab(settings=QUICK)
    lab.link_connect()
    plug_and_charge(lab, r)
    lab.advance(2000)
    duty = lab.duty_permille()
    since = lab.now_ms
    lab.do("tamper", open=1)
    r.did("the enclosure's lid taken off (tamper switch open)")

    def seen(code):
        return [f for _, f in lab.events(lm.EV_SECURITY, since) if f["a"] == code]

    t = lab.wait_until(lambda: seen(lm.SEC_TAMPER_OPEN), 5000)
    _within_ms(r, "lid off -> EV_SECURITY tamper_open on the link", t, TAMPER_REPORT_MS)
    lab.advance(3000)
    r.expect(lab.contactor_closed(), "still charging with the lid off")
    r.measure("duty with the lid off (unchanged)", lab.duty_permille(), "permille", "==", duty)
    r.measure("tamper_open events for one opening", len(seen(lm.SEC_TAMPER_OPEN)), "", "==", 1)
    lab.do("tamper", open=0)
    r.did("the lid put back")
    t = lab.wait_until(lambda: seen(lm.SEC_TAMPER_CLOSED), 5000)
    _within_ms(r, "lid on -> EV_SECURITY tamper_closed on the link", t, TAMPER_REPORT_MS)
    r.expect(lab.contactor_closed(), "still charging after the lid is back")


# SECURITY.md: the sections the information for the owner and the installer needs
# (Schedule 1 para 11), each at least MIN_WORDS long
SECTIONS = ("Reporting a vulnerability", "Support period", "Secure set-up", "Security log",
            "Software updates", "Personal data", "Design principles")
MIN_WORDS = 25


def _sections(text):
    """'## Title' -> the words of its body."""
    out = {}
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        out[title.strip()] = body.split()
    return out


@check("UK-S11")
def security_information_provided(target, r):
    """Schedule 1 para 11 (provision of information): the security information shipped
    with the software (SECURITY.md) has a vulnerability-reporting route, the support
    period, secure set-up, the security log, software updates, personal data and the design
    principles; every command-line option and file it names exists (the options in
    `python -m gateway --help`). A product's support period and its seller's contact are
    the manufacturer's to give: this reference implementation has neither, so the verdict
    is "not shown" when everything else holds."""
    doc = REPO / "SECURITY.md"
    r.expect(doc.is_file(), "SECURITY.md at the top of the repository")
    if not doc.is_file():
        return
    text = doc.read_text()
    found = _sections(text)
    for title in SECTIONS:
        r.measure("section '%s': words" % title, len(found.get(title, ())), "", ">=",
                  MIN_WORDS)
    helped = subprocess.run([sys.executable, "-m", "gateway", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=60).stdout
    options = sorted(set(re.findall(r"`(--[a-z][a-z-]+)", text)))
    missing = [o for o in options if o not in helped]
    r.measure("command-line options named (%s) missing from python -m gateway --help"
              % " ".join(options), len(missing), "", "==", 0)
    paths = sorted(set(re.findall(r"\b((?:docs|gateway|firmware|conformance)/[\w/.-]+\.(?:md|py))",
                                  text)))
    gone = [p for p in paths if not (REPO / p).is_file()]
    r.measure("files named (%s) that do not exist" % ", ".join(paths), len(gone), "", "==", 0)
    if not r.failures:
        raise NotShown("SECURITY.md carries what a reference implementation can say (figures "
                       "above); the support period of a product and the contact of its "
                       "seller are for the manufacturer to give to the owner, and this "
                       "repository is not a product on sale")
