"""GetVariables, SetVariables and GetBaseReport + NotifyReport (OCPP 2.0.1 Part 2 B05, B06,
B07) over the device model (gateway/ocpp201/device_model.py): a mixin for the
`ocpp.v201.ChargePoint` of the gateway, which sets `self.device_model`.

    class StationChargePoint(DeviceModelHandlers, ocpp.v201.ChargePoint): ...
"""

import json
import logging
from datetime import UTC, datetime

from ocpp.charge_point import snake_to_camel_case
from ocpp.exceptions import FormatViolationError, OccurrenceConstraintViolationError
from ocpp.routing import after, on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

log = logging.getLogger(__name__)

DD = "DeviceDataCtrlr"


def _address(item):
    """(component name, component instance, evse id, connector id, variable name, variable
    instance) of a GetVariableData / SetVariableData (snake_case, as the library hands it)."""
    component, variable = item["component"], item["variable"]
    evse = component.get("evse") or {}
    return (component["name"], component.get("instance"), evse.get("id"),
            evse.get("connector_id"), variable["name"], variable.get("instance"))


def _result(item, status, reason):
    r = {"attribute_type": item.get("attribute_type") or "Actual",  # B05.FR.12, B06.FR.11
         "attribute_status": status, "component": item["component"],
         "variable": item["variable"]}
    if reason:
        r["attribute_status_info"] = {"reason_code": reason}
    return r


def pages(report_data, items_per_message):
    """The ReportData split into NotifyReport pages of at most items_per_message."""
    n = max(1, items_per_message)
    return [report_data[i:i + n] for i in range(0, len(report_data), n)] or [[]]


class DeviceModelHandlers:
    def _request_limits(self, action, payload_key, items):
        """B06.FR.16/17 (and B05.FR.11 seen from the station): more items than
        ItemsPerMessage<action> -> CALLERROR OccurrenceConstraintViolation; a request larger
        than BytesPerMessage<action> (its compact JSON) -> CALLERROR FormatViolation."""
        dm = self.device_model
        most = dm.number(DD, "ItemsPerMessage", action)
        if len(items) > most:
            raise OccurrenceConstraintViolationError(
                description="%d items, ItemsPerMessage%s is %d" % (len(items), action, most))
        size = len(json.dumps({payload_key: snake_to_camel_case(items)},
                              separators=(",", ":")).encode())
        most = dm.number(DD, "BytesPerMessage", action)
        if size > most:
            raise FormatViolationError(
                description="%d bytes, BytesPerMessage%s is %d" % (size, action, most))

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data, **_):
        """B06: one result per item, in order (B06.FR.01/02)."""
        self._request_limits("GetVariables", "getVariableData", get_variable_data)
        results = []
        for item in get_variable_data:
            name, c_instance, evse, connector, variable, instance = _address(item)
            status, value, reason = self.device_model.get_result(
                name, variable, item.get("attribute_type") or "Actual", evse, connector,
                instance, c_instance)
            r = _result(item, status, reason)
            if value is not None:  # B06.FR.10; omitted otherwise (B06.FR.06-09)
                r["attribute_value"] = value
            results.append(r)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data, **_):
        """B05: one result per item, in order (B05.FR.01/02)."""
        self._request_limits("SetVariables", "setVariableData", set_variable_data)
        results = []
        for item in set_variable_data:
            name, c_instance, evse, connector, variable, instance = _address(item)
            status, reason = self.device_model.set_result(
                name, variable, item["attribute_value"], item.get("attribute_type") or "Actual",
                evse, connector, instance, c_instance)
            results.append(_result(item, status, reason))
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id, report_base, **_):
        """B07: Accepted and the report follows in NotifyReport; a base not built:
        NotSupported; nothing to report: EmptyResultSet."""
        data = self.device_model.report(report_base)
        if data is None:
            return call_result.GetBaseReport(status="NotSupported")
        return call_result.GetBaseReport(status="Accepted" if data else "EmptyResultSet")

    @after(Action.get_base_report)
    async def after_get_base_report(self, request_id, report_base, **_):
        """B07.FR.03/04/10: NotifyReport messages with the requestId, seqNo 0.., tbc on all
        but the last, at most ItemsPerMessageGetReport ReportData each."""
        dm = self.device_model
        data = dm.report(report_base)
        if not data:
            return
        generated_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        split = pages(data, dm.number(DD, "ItemsPerMessage", "GetReport"))
        for seq_no, page in enumerate(split):
            try:
                await self.call(call.NotifyReport(
                    request_id=request_id, generated_at=generated_at, seq_no=seq_no,
                    report_data=page, tbc=seq_no < len(split) - 1))
            except Exception as e:  # offline or refused: the CSMS may ask again
                log.warning("NotifyReport %d/%d of request %d not sent: %r", seq_no + 1,
                            len(split), request_id, e)
                return
