"""The gateway's receiver of EVENT and SESSION records (protocols/LINK.md §5.1): go-back-N
with the durable store as its memory, so each record is committed exactly once across
link drops, firmware reboots and gateway restarts.

- HELLO: the firmware says `unacked_seq` (its oldest record not acked). With the store's
  cursor (epoch, last_seq): the records last_seq+1-unacked it still holds (at most the
  8-record window) were committed and their acks lost, so expect last_seq + 1; fewer than 0
  means records the gateway never got are gone (counted in records_missed); more than the
  window means the firmware's numbering restarted (new controller, lost log): new epoch.
- A record: seq == expected -> commit (store transaction), expected += 1; seq < expected ->
  a duplicate, unless it differs from the record stored under that seq, or it is an
  EV_LOG_RESET not stored: then the numbering restarted (new epoch, expect the oldest the
  firmware holds); seq > expected -> a gap, dropped (go-back-N brings the missing one).
- The caller acks `ack_seq` after each record: cumulative and only for what is committed.
"""

import logging

from protocols import link_messages as lm

log = logging.getLogger(__name__)

RECORD_WINDOW = 8  # LINK.md §5.1: the firmware sends at most 8 records unacked ahead


class RecordReceiver:
    def __init__(self, store, evse_id, stats):
        self.store = store
        self.evse_id = evse_id
        self.stats = stats  # a Counter shared with the EvseLink
        self.epoch = 0
        self.expected_seq = 0  # next seq to commit; 0: no HELLO yet
        self._unacked = 1  # the firmware's oldest unacked seq, from its last HELLO

    @property
    def ack_seq(self):
        """What EVENT_ACK says now: every record up to it is committed (None: nothing)."""
        return self.expected_seq - 1 if self.expected_seq > 1 else None

    async def on_hello(self, unacked_seq):
        store = self.store
        self._unacked = unacked = max(1, unacked_seq)
        cur = await store.aio(store.cursor, self.evse_id)
        expected = unacked
        if cur.last_seq:
            behind = cur.last_seq + 1 - unacked  # committed records the firmware still holds
            if 0 <= behind <= RECORD_WINDOW:
                expected = cur.last_seq + 1  # acks were lost: those come again as duplicates
            elif behind < 0:
                self.stats["records_missed"] += -behind
                log.warning("EVSE %d: records %d..%d never reached the gateway", self.evse_id,
                            cur.last_seq + 1, unacked - 1)
            else:
                cur = await self._new_epoch("HELLO unacked_seq %d" % unacked)
        self.epoch = cur.epoch
        self.expected_seq = expected

    async def on_record(self, mtype, f):
        """One EVENT or SESSION (decoded fields) -> the committed Record, or None."""
        seq = f["seq"]
        if seq == self.expected_seq:
            return await self._commit(mtype, f)
        if seq > self.expected_seq:
            self.stats["records_gap"] += 1
            return None
        store = self.store
        stored = await store.aio(store.record_at, self.evse_id, self.epoch, seq)
        if stored is not None:
            restarted = stored.mtype != mtype or stored.fields != f
        else:
            restarted = mtype == lm.EVENT and f["code"] == lm.EV_LOG_RESET
        if not restarted:
            self.stats["records_duplicate"] += 1
            return None
        await self._new_epoch("another record under seq %d" % seq)
        self.expected_seq = min(self._unacked, seq)
        return await self._commit(mtype, f) if seq == self.expected_seq else None

    async def _new_epoch(self, why):
        cur = await self.store.aio(self.store.new_epoch, self.evse_id)
        self.epoch = cur.epoch
        self.stats["record_epochs"] += 1
        log.warning("EVSE %d: the firmware's record numbering restarted (%s): epoch %d",
                    self.evse_id, why, cur.epoch)
        return cur

    async def _commit(self, mtype, f):
        store = self.store
        rec = await store.aio(store.commit_record, self.evse_id, self.epoch, f["seq"], mtype, f)
        if rec is None:  # the store moved on under us (another process): follow it
            self.stats["records_refused"] += 1
            cur = await store.aio(store.cursor, self.evse_id)
            self.epoch, self.expected_seq = cur.epoch, cur.last_seq + 1
            return None
        self.expected_seq = f["seq"] + 1
        self.stats["records_committed"] += 1
        return rec
