"""When the station had an accepted CSMS connection, kept in the store across restarts: the
TransactionEvent `offline` flag (Part 2 E: the event happened while the Charging Station was
offline) and OfflineThreshold (B04) read it.

A connection ended by a kill has no recorded end: at the next start it ends at the last
answer the store recorded (the latest message delivered on it), so events after that count as
offline: they reached the CSMS only from a later connection."""

META_KEY = "ocpp201:online"
KEEP = 64  # connections remembered; events older than these are long delivered


class OnlineHistory:
    def __init__(self, store, clock):
        self.store, self.clock = store, clock
        saved = store.get_meta(META_KEY) or []
        self._spans = [[a, b] for a, b in saved if isinstance(a, (int, float))
                       and (b is None or isinstance(b, (int, float)))]
        if self._spans and self._spans[-1][1] is None:  # the last process was killed
            a = self._spans[-1][0]
            last_ms = store.last_answered_unix_ms()
            self._spans[-1][1] = max(a, last_ms / 1000) if last_ms is not None else a
            self._save()

    def _save(self):
        del self._spans[:-KEEP]
        self.store.set_meta(META_KEY, self._spans)

    def connected(self, up):
        now = self.clock()
        if up:
            self._spans.append([now, None])
        elif self._spans and self._spans[-1][1] is None:
            self._spans[-1][1] = now
        else:
            return
        self._save()

    def was_offline(self, unix_s):
        """No accepted CSMS connection at unix_s (whole seconds: an event's timestamp)."""
        return not any(int(a) <= unix_s and (b is None or unix_s <= b + 1)
                       for a, b in self._spans)

    def offline_s(self):
        """How long the station has been without a CSMS connection, this process and the
        ones before it (inf if it never had one)."""
        ended = self._spans[-1][1] if self._spans else None
        return float("inf") if ended is None else self.clock() - ended
