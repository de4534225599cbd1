"""What a connector's status is, decided in the gateway: the firmware knows the pilot and the
contactor (its TELEMETRY `session`, mapped by gateway.station.SESSION_STATUS), the gateway
knows the transaction, a remote start waiting for the plug-in and the availability the CSMS
set. Names are the OCPP 1.6 ChargePointStatus values (version-neutral enough: 2.0.1 maps
them to its own).

OCPP 1.6 §4.9: Preparing is "no longer available for a new user but there is no ongoing
transaction (yet)", e.g. a cable plugged in or an authorisation presented; Charging and
Suspended* need a transaction. So the order after a plug-in is Available -> Preparing ->
(StartTransaction answered) -> Charging / SuspendedEV / SuspendedEVSE, whatever the firmware
reports right at the plug-in (it offers at once and says suspended_ev until the EV asks)."""

OCCUPIED = ("Preparing", "Charging", "SuspendedEV", "SuspendedEVSE")

# TELEMETRY flag -> word in StatusNotification info (at most 50 characters in 1.6, 43 used
# here): what the firmware decides on its own, visible with every status (DataTransfer says
# when it changed and why)
INFO_FLAGS = (("failsafe", "failsafe"), ("override", "override"), ("delay", "delay"),
              ("no_charge_window", "window"))


def decide(firmware_status, transaction, remote_start_pending, inoperative):
    """The status to report. transaction: the CSMS gave this connector's running transaction
    its transactionId; remote_start_pending: a RemoteStartTransaction waits for the plug-in
    (until ConnectionTimeOut); inoperative: ChangeAvailability Inoperative is in force."""
    if firmware_status in OCCUPIED:
        return firmware_status if transaction else "Preparing"
    if firmware_status == "Available":
        if inoperative:
            return "Unavailable"  # also right after a firmware reboot, before it is told again
        if remote_start_pending:
            return "Preparing"
    return firmware_status


def info(telemetry, meter_fault=None):
    """StatusNotification info: the flags in force and "meter_fault" while the firmware's
    meter is faulted (charging goes on unless meter_fault_action says otherwise, so the
    errorCode stays NoError), comma-separated, or None."""
    words = [word for flag, word in INFO_FLAGS if telemetry.has(flag)]
    if meter_fault is not None:
        words.append("meter_fault")
    return ",".join(words) or None
