"""classify(): one case per class, owners not facades, registration logs."""

from iobus_verify.model.devices import LogEntry
from iobus_verify.model.divergence import DivergenceClass as C, classify, explain
from iobus_verify.model.vm import Step

W = {"op": "write", "bus": "pio", "addr": 0x20, "len": 1, "data": "00"}
R = {"op": "read", "bus": "pio", "addr": 0x20, "len": 1}
E = LogEntry("write", "pic", 0x20, 1, 0)


def test_agreement_is_none():
    s = Step(0, "z1", "coalesced_ring", None, (("coalesced_ring", E),))
    assert classify(W, s, s) is None and explain(W, s, s) is None


def test_missed_and_spurious():
    ref = Step(0, "e1", "e1")
    none = Step(-95)
    assert classify(W, ref, none) is C.MISSED
    assert classify(W, none, ref) is C.SPURIOUS


def test_reordered_compares_owners_not_facades():
    master = Step(0, "pic_master", "pic", None, (("pic", E),))
    slave = Step(0, "pic_slave", "pic", None, (("pic", E),))
    assert classify(W, master, slave) is None  # one struct kvm_pic, the same change
    assert classify(W, Step(0, "z1", "coalesced_ring"), Step(0, "e1", "e1")) is C.REORDERED


def test_data_same_owner_different_rc_data_or_log():
    assert classify(R, Step(0, "p", "p", "00"), Step(0, "p", "p", "01")) is C.DATA
    assert classify(W, Step(0, "p", "p", None, (("p", E),)), Step(0, "p", "p", None, ())) is C.DATA
    assert classify(W, Step(-95), Step(0)) is C.DATA  # a bus claiming success with no device


def test_registration_and_error():
    op = {"op": "probe", "action": "register", "id": "p", "bus": "pio", "addr": 0, "len": 1}
    assert classify(op, Step(0), Step(-28)) is C.REGISTRATION
    vm_log = (("vm", LogEntry("unregister", "z1", 0, 0, 0, "mmio")),)
    assert classify({"op": "coalesced_mmio", "action": "unregister", "addr": 0, "size": 1}, Step(0, log=vm_log), Step(0)) is C.REGISTRATION
    assert classify(W, Step(0, "p", "p"), Step(0, error="bus x raised")) is C.ERROR
    assert "ERROR" in explain(W, Step(0), Step(0, error="boom"))


def test_explanations_say_where_the_logs_part():
    unreg = (("vm", LogEntry("unregister", "e2", 0, 0, -12, "pio")),)
    destroyed = unreg + (("e2", LogEntry("destroyed", "e2", 0, 1, None, "e2")),)
    op = {"op": "ioeventfd", "action": "deassign", "id": "e2"}
    assert explain(op, Step(0, log=unreg), Step(0, log=destroyed)) == (
        "REGISTRATION: reference rc 0, bus rc 0; the bus also logs e2 destroyed at 0x0 len 1"
    )
    assert explain(op, Step(0, log=destroyed), Step(0, log=())).endswith("the reference also logs e2 unregister value -12 (+1 more)")
    other = (("p", LogEntry("write", "p", 0x20, 1, 7)),)
    assert explain(W, Step(0, "p", "p", None, (("p", E),)), Step(0, "p", "p", None, other)).endswith(
        "log entry 0: reference pic write at 0x20 len 1 value 0, bus p write at 0x20 len 1 value 7"
    )
    assert classify(op, Step(-12, log=unreg), Step(0, log=unreg)) is C.REGISTRATION
    assert explain(op, Step(-12, log=unreg), Step(0, log=unreg)) == "REGISTRATION: reference rc -12, bus rc 0"
