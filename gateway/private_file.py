"""Files only the gateway's user may read (UK-S4 sensitive security parameters): the CSMS
password, the security profile, the station's private keys."""

import os


def write_private(path, data):
    """Replace path atomically by a file of mode 0600 from its creation (data: str or
    bytes): never a moment where the content is readable by others or half written."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
