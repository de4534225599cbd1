# Event log (T7-LOG; DESIGN §4: at-least-once delivery, retained in flash
# until acked, nothing lost across reboots or link drops). A "reboot" is a new
# EventLog on the same fake storage.
import struct

from evse import events
from evse.events import EventLog
from mpunit import raises
from protocols import link_messages as lm


class _Board:
    def __init__(self, files=None):
        self.files = {} if files is None else files
        self.writes = 0
        self.fail = False

    def storage_read(self, name):
        return self.files.get(name)

    def storage_write(self, name, data):
        if self.fail:
            raise OSError(28)  # ENOSPC
        self.files[name] = bytes(data)
        self.writes += 1


def _rec():
    return [0] * events.REC_FIELDS


def _seqs(log):
    # Every retained seq, oldest first, read back through get().
    out = _rec()
    found = []
    if not log.oldest_unacked(out):
        return found
    seq = out[events.SEQ]
    while log.get(seq, out):
        found.append(out[events.SEQ])
        seq = (seq + 1) & 0xFFFFFFFF
    return found


def test_record_and_header_sizes():
    assert struct.calcsize("<IIBBiiii") == events.REC_SIZE == 26
    assert struct.calcsize("<4sBBHIIHHI") == 24


def test_event_codes_are_the_links_u8_table():
    codes = [getattr(lm, n) for n in dir(lm) if n.startswith("EV_")]
    assert len(codes) >= 20
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert 0 < code < 256
        assert code in lm.EVENTS
    assert lm.EVENTS[lm.EV_LIMIT_APPLIED][0] == "limit_applied"


def test_t7_log_record_fields_round_trip():
    """T7-LOG: a control request is logged with source, asked, applied and reason."""
    log = EventLog(_Board())
    seq = log.add(1234, lm.EV_LIMIT_APPLIED, 3, 32000, 16000, -7)
    out = _rec()
    assert log.get(seq, out) == 1
    assert out == [seq, 1234, events.FLAG_UPTIME, lm.EV_LIMIT_APPLIED, 3, 32000, 16000, -7]


def test_time_flag_uptime_until_the_wall_clock_is_synced():
    log = EventLog(_Board())
    s1 = log.add(5, lm.EV_BOOT, 0)
    log.wall_clock = 1
    s2 = log.add(1767225600, lm.EV_STATE, 1, 2)
    out = _rec()
    log.get(s1, out)
    assert out[events.FLAGS] == events.FLAG_UPTIME and out[events.TIME] == 5
    log.get(s2, out)
    assert out[events.FLAGS] == 0 and out[events.TIME] == 1767225600


def test_time_beyond_2038_keeps_its_full_u32():
    log = EventLog(_Board())
    log.wall_clock = 1
    seq = log.add(0xF0000000, lm.EV_BOOT)
    out = _rec()
    log.get(seq, out)
    assert out[events.TIME] == 0xF0000000


def test_arguments_saturate_to_i32():
    log = EventLog(_Board())
    seq = log.add(0, lm.EV_SESSION_STOP, 1 << 40, -(1 << 40), 0x7FFFFFFF, -0x80000000)
    out = _rec()
    log.get(seq, out)
    assert out[events.A:] == [0x7FFFFFFF, -0x80000000, 0x7FFFFFFF, -0x80000000]


def test_code_outside_u8_is_a_programming_error():
    log = EventLog(_Board())
    with raises(ValueError):
        log.add(0, 256)
    with raises(ValueError):
        log.add(0, -1)
    assert log.pending_count() == 0


def test_design_4_sequence_numbers_continue_across_reboot():
    board = _Board()
    log = EventLog(board)
    assert log.problem is None
    assert [log.add(i, lm.EV_STATE, i) for i in range(3)] == [1, 2, 3]
    log.ack(3)
    log2 = EventLog(board)  # reboot
    assert log2.problem is None
    assert log2.pending_count() == 0
    assert log2.add(10, lm.EV_BOOT) == 4
    log3 = EventLog(board)
    assert log3.next_seq == 5


def test_design_4_unacked_events_survive_reboot_until_acked():
    """Events are retained in flash until acked: nothing lost across reboots."""
    board = _Board()
    log = EventLog(board)
    for i in range(5):
        log.add(100 + i, lm.EV_LIMIT_APPLIED, i, -i, 0, 0)
    log.ack(2)
    log2 = EventLog(board)
    assert log2.pending_count() == 3
    assert _seqs(log2) == [3, 4, 5]
    out = _rec()
    assert log2.oldest_unacked(out) == 1
    assert out == [3, 102, events.FLAG_UPTIME, lm.EV_LIMIT_APPLIED, 2, -2, 0, 0]
    assert log2.get(2, out) == 0  # acked: gone
    assert log2.get(6, out) == 0  # not yet written
    assert log2.acked_seq == 2


def test_design_4_ack_is_idempotent():
    log = EventLog(_Board())
    for _ in range(4):
        log.add(0, lm.EV_COMMAND, 1, 0)
    assert log.ack(2) == 2
    assert log.ack(2) == 0
    assert log.ack(1) == 0
    assert log.pending_count() == 2
    assert log.ack(4) == 2
    assert log.ack(4) == 0
    assert log.pending_count() == 0
    out = _rec()
    assert log.oldest_unacked(out) == 0


def test_ack_beyond_the_last_seq_is_refused():
    log = EventLog(_Board())
    assert log.ack(0) == 0  # nothing to ack on an empty log, not an error
    assert log.ack(1) == -1
    log.add(0, lm.EV_BOOT)
    assert log.ack(2) == -1
    assert log.ack(-1) == -1
    assert log.ack(1 << 32) == -1
    assert log.ack(True) == -1
    assert log.pending_count() == 1
    assert log.ack(1) == 1


def test_ack_writes_only_when_something_changes():
    board = _Board()
    log = EventLog(board)
    log.add(0, lm.EV_BOOT)
    assert board.writes == 1
    log.ack(1)
    assert board.writes == 2
    log.ack(1)
    log.ack(0)
    log.ack(7)
    assert board.writes == 2


def test_full_ring_overwrites_the_oldest_unacked_and_counts_it():
    """A long offline period must not block the charger: the oldest go first."""
    board = _Board()
    log = EventLog(board, capacity=4)
    for i in range(1, 7):
        assert log.add(i, lm.EV_STATE, i) == i
    assert log.pending_count() == 4
    assert log.dropped == 2
    assert _seqs(log) == [3, 4, 5, 6]
    out = _rec()
    assert log.get(2, out) == 0
    log2 = EventLog(board, capacity=4)
    assert log2.dropped == 2
    assert _seqs(log2) == [3, 4, 5, 6]
    assert log2.ack(1) == 0  # a lost event acked late: nothing to free
    assert log2.acked_seq == 1
    assert log2.ack(4) == 2
    assert log2.add(7, lm.EV_STATE) == 7
    assert _seqs(log2) == [5, 6, 7]


def test_ring_wraps_many_times_and_keeps_order():
    log = EventLog(_Board(), capacity=3, autoflush=False)
    for i in range(1, 50):
        log.add(i, lm.EV_STATE, i)
        if i % 2 == 0:
            log.ack(i - 1)
    assert _seqs(log) == [48, 49]
    out = _rec()
    log.get(49, out)
    assert out[events.A] == 49


def test_sequence_numbers_wrap_modulo_2_32():
    log = EventLog(_Board(), capacity=4)
    log.next_seq = 0xFFFFFFFE
    log.acked_seq = 0xFFFFFFFD
    assert log.add(0, lm.EV_STATE) == 0xFFFFFFFE
    assert log.add(0, lm.EV_STATE) == 0xFFFFFFFF
    assert log.add(0, lm.EV_STATE) == 0
    assert log.add(0, lm.EV_STATE) == 1
    assert _seqs(log) == [0xFFFFFFFE, 0xFFFFFFFF, 0, 1]
    assert log.ack(2) == -1
    assert log.ack(0xFFFFFFFF) == 2
    assert log.ack(0) == 1
    assert log.acked_seq == 0
    log2 = EventLog(log._board, capacity=4)
    assert log2.problem is None
    assert _seqs(log2) == [1]


def _stored_log():
    board = _Board()
    log = EventLog(board, capacity=8)
    for i in range(5):
        log.add(i, lm.EV_STATE, i)
    log.ack(2)
    return board


def _expect_empty_with_problem(board, word):
    log = EventLog(board, capacity=8)
    assert log.problem is not None and word in log.problem, log.problem
    assert log.problem.startswith("events.bin")
    assert log.pending_count() == 0
    assert log.next_seq == 1
    assert log.dirty  # the next flush replaces the unreadable file
    assert log.add(0, lm.EV_LOG_RESET) == 1
    again = EventLog(board, capacity=8)
    assert again.problem is None and _seqs(again) == [1]


def test_corrupt_file_bad_crc_gives_empty_log_and_problem():
    board = _stored_log()
    data = bytearray(board.files["events.bin"])
    data[30] ^= 0x01
    board.files["events.bin"] = bytes(data)
    _expect_empty_with_problem(board, "bad CRC")


def test_corrupt_file_truncated():
    board = _stored_log()
    good = board.files["events.bin"]
    for n in (0, 10, 25, len(good) - 1):
        board.files["events.bin"] = good[:n]
        _expect_empty_with_problem(board, "truncated")
        board.files["events.bin"] = good


def test_corrupt_file_garbage_and_bad_magic():
    board = _stored_log()
    size = len(board.files["events.bin"])
    board.files["events.bin"] = bytes([0xA5]) * size
    _expect_empty_with_problem(board, "bad magic")
    board.files["events.bin"] = b"not an event log at all, just text" * 3
    _expect_empty_with_problem(board, "")


def test_corrupt_file_unknown_version():
    board = _stored_log()
    data = bytearray(board.files["events.bin"])
    data[4] = 9
    board.files["events.bin"] = bytes(data)
    _expect_empty_with_problem(board, "version")


def _rewrite_header(board, **changes):
    # Rebuild a file with a consistent CRC but a doctored header.
    data = bytearray(board.files["events.bin"])
    fields = list(struct.unpack_from("<4sBBHIIHHI", data, 0))
    names = ("magic", "version", "rec_size", "cap", "next_seq", "acked", "head", "count",
             "dropped")
    for k in changes:
        fields[names.index(k)] = changes[k]
    struct.pack_into("<4sBBHIIHHI", data, 0, *fields)
    from protocols.crc16 import crc16
    c = crc16(data, 0, len(data) - 2)
    data[-2] = c & 0xFF
    data[-1] = c >> 8
    board.files["events.bin"] = bytes(data)


def test_inconsistent_header_with_valid_crc_is_refused():
    for changes, word in (({"head": 8}, "inconsistent"), ({"count": 9}, "inconsistent"),
                          ({"acked": 4}, "inconsistent"), ({"next_seq": 9}, "sequence")):
        board = _stored_log()
        _rewrite_header(board, **changes)
        _expect_empty_with_problem(board, word)


def test_autoflush_off_marks_dirty_and_flush_writes_once():
    """Flash wear: the controller may batch writes with autoflush off."""
    board = _Board()
    log = EventLog(board, autoflush=False)
    assert log.flush() == 0
    for i in range(10):
        log.add(i, lm.EV_STATE)
    assert board.writes == 0 and log.dirty
    assert EventLog(_Board(board.files)).pending_count() == 0  # not yet in flash
    assert log.flush() == 1
    assert not log.dirty and board.writes == 1
    assert log.flush() == 0
    assert EventLog(_Board(board.files)).pending_count() == 10


def test_write_failure_keeps_the_log_and_retries():
    board = _Board()
    log = EventLog(board)
    board.fail = True
    assert log.add(0, lm.EV_BOOT) == 1  # the charger is never blocked
    assert log.dirty
    assert log.flush() == -1
    board.fail = False
    assert log.flush() == 1
    assert EventLog(board).pending_count() == 1


def test_smaller_capacity_after_update_keeps_the_newest():
    board = _Board()
    log = EventLog(board, capacity=8)
    for i in range(6):
        log.add(i, lm.EV_STATE, i)
    small = EventLog(board, capacity=4)
    assert small.problem is None
    assert _seqs(small) == [3, 4, 5, 6]
    assert small.dropped == 2
    assert small.dirty
    assert small.add(0, lm.EV_BOOT) == 7
    big = EventLog(board, capacity=16)
    assert _seqs(big) == [4, 5, 6, 7]
    assert big.dropped == 3


def test_get_fills_the_callers_list_in_place():
    log = EventLog(_Board())
    log.add(9, lm.EV_COMMAND, 4, 1)
    out = _rec()
    before = id(out)
    assert log.get(1, out) == 1
    assert id(out) == before and len(out) == events.REC_FIELDS
    assert out[events.CODE] == lm.EV_COMMAND and out[events.B] == 1


def test_capacity_must_fit_the_header():
    with raises(ValueError):
        EventLog(_Board(), capacity=0)
    with raises(ValueError):
        EventLog(_Board(), capacity=0x10000)
