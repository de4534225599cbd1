"""OCPP security profiles 0-3 of the gateway's CSMS connection (OCPP 1.6 security
whitepaper "Improved security for OCPP 1.6-J", secure connection setup; DESIGN §8; UK-S2
unique passwords, UK-S5 secure communication: SI 2021/1467 Schedule 1 paras 2 and 5):

    0  ws://,  no authentication (trusted networks and tests only)
    1  ws://,  HTTP Basic auth: username = station id, password = the station's key
    2  wss://, Basic auth, the CSMS's server certificate checked against --csms-ca
    3  wss://, TLS client certificate (--client-cert / --client-key), no password

The password is 16-40 characters (whitepaper: AuthorizationKey). Without --password-file it
is generated at provisioning (first start of a profile 1/2 station) with `secrets`, stored
in STATE_DIR/csms_password (mode 0600) and printed once for the installer to enter at the
CSMS: never a shared default. The active profile is kept in STATE_DIR/security_profile; a
start with a lower one is refused ("downgrade", whitepaper: the profile can only be raised).

    sec = Security.from_args(args)      # ValueError with the reason on bad options
    sec.connect_kwargs()                # for websockets.connect: ssl=, additional_headers=
"""

import base64
import re
import secrets
import ssl
import string
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from gateway.private_file import write_private
from gateway.station_certificate import StationCertificate

PASSWORD_FILE = "csms_password"
PROFILE_FILE = "security_profile"
# 16-40 characters (whitepaper AuthorizationKey); the characters of OCPP's identifierString
# (a-z A-Z 0-9 * - _ = : + | @ .), which survive every CSMS's configuration form
PASSWORD_RE = re.compile(r"[A-Za-z0-9*\-_=:+|@.]{16,40}")
GENERATED_LENGTH = 32
GENERATED_ALPHABET = string.ascii_letters + string.digits
# profile -> (URL scheme, Basic auth, TLS client certificate)
PROFILES = {0: ("ws", False, False), 1: ("ws", True, False), 2: ("wss", True, False),
            3: ("wss", False, True)}


def generate_password():
    return "".join(secrets.choice(GENERATED_ALPHABET) for _ in range(GENERATED_LENGTH))


@dataclass
class Security:
    profile: int
    station_id: str
    password: str | None = None
    ssl_context: ssl.SSLContext | None = None
    generated_password_file: Path | None = None  # set when this start generated it
    password_file: Path | None = None  # where the password is kept
    csms_ca: str | None = None  # --csms-ca (profiles 2-3)

    @classmethod
    def from_args(cls, args, state_dir):
        """Check the security options against --csms and the state dir; provision the
        password when needed. ValueError(reason) on anything wrong."""
        profile = args.security_profile
        scheme, basic_auth, client_cert = PROFILES[profile]
        csms_scheme = urlsplit(args.csms).scheme
        if csms_scheme != scheme:
            raise ValueError("--security-profile %d needs a %s:// --csms URL, not %s://"
                             % (profile, scheme, csms_scheme))
        for opt, given, needed in (("--password-file", args.password_file, basic_auth),
                                   ("--csms-ca", args.csms_ca, scheme == "wss"),
                                   ("--client-cert", args.client_cert, client_cert),
                                   ("--client-key", args.client_key, client_cert)):
            if given is not None and not needed:
                raise ValueError("%s is not used by --security-profile %d" % (opt, profile))
            if given is None and needed and opt != "--password-file":
                raise ValueError("--security-profile %d needs %s" % (profile, opt))
            if given is not None and not Path(given).is_file():
                raise ValueError("%s %s: no such file" % (opt, given))
        state = Path(state_dir)
        _check_downgrade(state, profile)
        sec = cls(profile, args.station_id)
        if basic_auth:
            sec._load_password(state, args.password_file)
        if scheme == "wss":
            sec.csms_ca = args.csms_ca
            cert, key = args.client_cert, args.client_key
            signed = StationCertificate(state, args.station_id).files()
            if client_cert and signed is not None:  # A02: the CSMS-signed one replaces it
                cert, key = (str(p) for p in signed)
            sec.ssl_context = _client_context(args.csms_ca, cert, key)
        return sec

    def use_client_certificate(self, cert_file, key_file):
        """Profile 3: the next connections present this (CSMS-signed) certificate."""
        if PROFILES[self.profile][2]:
            self.ssl_context = _client_context(self.csms_ca, str(cert_file), str(key_file))

    def _load_password(self, state, password_file):
        path = Path(password_file) if password_file else state / PASSWORD_FILE
        self.password_file = path
        if password_file is None and not path.exists():
            state.mkdir(parents=True, exist_ok=True)
            write_private(path, generate_password() + "\n")
            self.generated_password_file = path
        try:
            text = path.read_text().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError("password file %s: %s" % (path, e)) from None
        if not PASSWORD_RE.fullmatch(text):
            raise ValueError("password file %s: the password must be 16-40 characters of "
                             "A-Z a-z 0-9 * - _ = : + | @ . (OCPP 1.6 security whitepaper)"
                             % path)
        self.password = text

    def change_password(self, state_dir, password):
        """A new Basic-auth password from the CSMS (2.0.1 A01 SetVariables BasicAuthPassword),
        kept in STATE_DIR/csms_password (0600) for the next connections and starts.
        ValueError when it is not a valid password or the profile has none."""
        if not PROFILES[self.profile][1]:
            raise ValueError("security profile %d has no Basic-auth password" % self.profile)
        if not PASSWORD_RE.fullmatch(password):
            raise ValueError("not a 16-40 character password of the allowed characters")
        path = self.password_file or Path(state_dir) / PASSWORD_FILE
        write_private(path, password + "\n")
        self.password = password

    def persist(self, state_dir):
        """Record the active profile (after a successful check): later starts may only
        keep or raise it."""
        path = Path(state_dir) / PROFILE_FILE
        if read_profile(state_dir) != self.profile:
            write_private(path, "%d\n" % self.profile)

    def connect_kwargs(self):
        kw = {}
        if self.password is not None:  # RFC 7617: base64("id:password")
            token = base64.b64encode(("%s:%s" % (self.station_id, self.password)).encode())
            kw["additional_headers"] = {"Authorization": "Basic " + token.decode()}
        if self.ssl_context is not None:
            kw["ssl"] = self.ssl_context
        return kw


def read_profile(state_dir):
    """The profile persisted in the state dir, or None."""
    try:
        return int((Path(state_dir) / PROFILE_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _check_downgrade(state, profile):
    persisted = read_profile(state)
    if persisted is not None and profile < persisted:
        raise ValueError("--security-profile %d refused: downgrade from profile %d (the "
                         "OCPP 1.6 security whitepaper allows raising it only)"
                         % (profile, persisted))


def _client_context(ca_file, cert_file, key_file):
    """TLS 1.2 or later, the server certificate checked against the CSMS root and its name
    against the URL's host; the client certificate for profile 3."""
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        if cert_file is not None:
            ctx.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as e:
        raise ValueError("TLS files (%s): %s" % (", ".join(
            f for f in (ca_file, cert_file, key_file) if f), e)) from None
    return ctx
