"""TransactionEvent Updated with triggerReason ChargingRateChanged (Part 2 E02/K: the rate the
EVSE offers changed during a transaction): when the firmware's offered current (TELEMETRY
offered_ma) moves by more than SmartChargingCtrlr.LimitChangeSignificance percent of the last
reported one, an Updated event with the new Current.Offered is queued behind the
transaction's earlier messages. The first offer of a transaction is its baseline; a pause
(0 A) or a resume from one always counts."""

import asyncio

from gateway.ocpp16.pdus import iso


class RateChanges:
    def __init__(self, station, dm, clock):
        self.station, self.dm, self.clock = station, dm, clock
        self._reported = {}  # evse id -> (session key, offered mA last reported)
        for cid, ln in station.links.items():
            ln.on_telemetry(lambda new, old, cid=cid: self._telemetry(cid, new))

    def significant(self, old_ma, new_ma):
        if old_ma == new_ma:
            return False
        if old_ma == 0 or new_ma == 0:
            return True
        percent = self.dm.number("SmartChargingCtrlr", "LimitChangeSignificance")
        return abs(new_ma - old_ma) * 100 > percent * old_ma

    def _telemetry(self, cid, t):
        s = self.station.session(cid)
        if not (s and s.get("authorized")):
            self._reported.pop(cid, None)
            return
        known = self._reported.get(cid)
        if known is None or known[0] != s["key"]:
            self._reported[cid] = (s["key"], t.offered_ma)
            return
        if not self.significant(known[1], t.offered_ma):
            return
        self._reported[cid] = (s["key"], t.offered_ma)
        now = int(self.clock())
        mv = {"timestamp": iso(now), "sampled_value": [
            {"value": "%d.%03d" % divmod(t.offered_ma, 1000), "context": "Other",
             "measurand": "Current.Offered", "location": "Outlet", "unit": "A"}]}
        asyncio.get_running_loop().create_task(self.station.enqueue_for_session(
            cid, s["key"], "tx_update", {"trigger": "ChargingRateChanged", "unix_s": now,
                                         "meter_value": [mv]}))
