"""Small OCPP 1.6 building blocks shared by the station's modules: the dateTime format, the
station's vendorId (DataTransfer, StatusNotification vendorId; docs/ocpp.md) and the
StatusNotification of a version-neutral ConnectorStatus."""

from datetime import UTC, datetime

from ocpp.v16 import call

# Our vendor-specific implementation (1.6 DataTransfer.vendorId, StatusNotification.vendorId):
# the project's package name, also the default chargePointVendor of BootNotification.
VENDOR_ID = "smartevse-ref"


def iso(unix_s):
    """OCPP 1.6 dateTime (UTC, RFC 3339)."""
    return datetime.fromtimestamp(unix_s, UTC).isoformat().replace("+00:00", "Z")


def status_call(connector_id, st, unix_s):
    """StatusNotification of a gateway.station.ConnectorStatus; vendorId names who defines
    its info and vendorErrorCode words (docs/ocpp.md) when it carries any."""
    ours = st.info is not None or st.vendor_error_code is not None
    return call.StatusNotification(
        connector_id=connector_id, error_code=st.error_code, status=st.status,
        timestamp=iso(unix_s), info=st.info, vendor_error_code=st.vendor_error_code,
        vendor_id=VENDOR_ID if ours else None)
