"""Which caller rules a kernel tree has: its own ``coalesced_mmio.c`` and ``eventfd.c``.

A ``kernel:`` bus runs the tree's own ``kvm_io_bus_unregister_dev``; what
happens to a device after that call is decided by the callers, which the VM
runs in Python (:class:`~iobus_verify.model.lifetime.CallerRules`). A tree must
pair with the callers it has, not with the era's default, or a tree whose bus
and callers disagree (5ea5ca3c2b4b's bus with the callers before it, a
23fa2e46a555 walk over an older bus) would be judged with the wrong half.

What is read (with the same tree-sitter parser as the bus code,
:mod:`.extract`; never by patterns over the text):

* ``virt/kvm/coalesced_mmio.c``, ``kvm_vm_ioctl_unregister_coalesced_mmio``:
  the statements that follow the ``kvm_io_bus_unregister_dev`` call in its
  block (the body of ``if (coalesced_mmio_in_range(...)) { ... }`` inside
  ``list_for_each_entry_safe``), reduced to a sequence of *destroy*
  (``kvm_iodevice_destructor(&dev->dev);``) and *stop* (``if (r) break;``,
  with ``r`` the unregister's result). A stop after a stop can never be
  taken (the first one let only ``r == 0`` through and no statement the walk
  may have assigns ``r``) and is dropped; a vendor tree (Kirisakura 5.10) has
  one after the destructor. The
  sequence is a :class:`~iobus_verify.model.lifetime.ZoneWalk`:

  =====================  =========================
  sequence               walk
  =====================  =========================
  destroy                DESTROY_AND_CONTINUE (v2.6.31 - v5.12)
  destroy, stop          DESTROY_THEN_STOP (5d3c4c79384a, b1cb1fac22ab)
  stop, destroy          STOP_THEN_DESTROY (23fa2e46a555)
  destroy, stop, destroy DESTROY_STOP_DESTROY (a vendor mis-merge)
  stop                   BUS_DESTROYS (5ea5ca3c2b4b on)
  =====================  =========================

* ``virt/kvm/eventfd.c``, ``kvm_deassign_ioeventfd_idx`` (3.19 on) or
  ``kvm_deassign_ioeventfd`` (before): whether a statement after the
  ``kvm_io_bus_unregister_dev`` call, in its block, calls
  ``ioeventfd_release`` (before 5ea5ca3c2b4b it does, whatever the unregister
  did; from 5ea5ca3c2b4b on the bus's destructor does it).

* ``virt/kvm/kvm_main.c``, ``kvm_io_bus_unregister_dev`` (already extracted
  for the bus): whether it calls ``kvm_iodevice_destructor`` on the device it
  was given (5ea5ca3c2b4b on). That is the bus's own behaviour, reported next
  to the callers' and given to the VM as the bus's ``destroys_on_unregister``
  (so a tree whose callers leave the destroy to a bus that does not do it is
  not completed by the VM: its devices leak, as they would in the kernel).

The pair (release after unregister, walk) must be one of the known
:data:`~iobus_verify.model.lifetime.CALLERS`; code that matches none is a
:class:`UsageError` naming what was read, never a guess. A file that is
absent leaves its half to the era's default rules, and the line says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from iobus_verify.errors import UsageError
from iobus_verify.model.kernel.extract import _parser, parse_file
from iobus_verify.model.lifetime import CALLERS, DEFAULT_CALLERS, CallerRules, ZoneWalk

COALESCED = "virt/kvm/coalesced_mmio.c"
EVENTFD = "virt/kvm/eventfd.c"
ZONE_FN = "kvm_vm_ioctl_unregister_coalesced_mmio"
DEASSIGN_FNS = ("kvm_deassign_ioeventfd_idx", "kvm_deassign_ioeventfd")
UNREGISTER = "kvm_io_bus_unregister_dev"
DESTRUCTOR = "kvm_iodevice_destructor"
RELEASE = "ioeventfd_release"

#: The zone walk each (destroy/stop) sequence of the unregister loop is.
WALKS: dict[tuple[str, ...], ZoneWalk] = {
    ("destroy",): ZoneWalk.DESTROY_AND_CONTINUE,
    ("destroy", "stop"): ZoneWalk.DESTROY_THEN_STOP,
    ("stop", "destroy"): ZoneWalk.STOP_THEN_DESTROY,
    ("destroy", "stop", "destroy"): ZoneWalk.DESTROY_STOP_DESTROY,
    ("stop",): ZoneWalk.BUS_DESTROYS,
}


@dataclass(frozen=True)
class CallersDecision:
    """The caller rules picked for a tree, and why (one line for the era line)."""

    name: str  # a key of lifetime.CALLERS
    reason: str
    walk: ZoneWalk | None  # None: coalesced_mmio.c absent
    release: bool | None  # None: eventfd.c absent
    bus_destroys: bool | None  # the tree's unregister destroys its target (None: not read)


# -- syntax helpers -------------------------------------------------------------------


def _nodes(node, kind: str):
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == kind:
            yield n
        stack.extend(reversed(n.children))


def _callee(call) -> str | None:
    f = call.child_by_field_name("function")
    return f.text.decode() if f is not None and f.type == "identifier" else None


def _calls(node, name: str) -> list:
    return [c for c in _nodes(node, "call_expression") if _callee(c) == name]


def _function(piece_text: str, name: str):
    tree = _parser().parse(piece_text.encode())
    for fn in _nodes(tree.root_node, "function_definition"):
        d = fn.child_by_field_name("declarator")
        while d is not None and d.type != "function_declarator":
            d = d.child_by_field_name("declarator")
        ident = d.child_by_field_name("declarator") if d is not None else None
        if ident is not None and ident.text.decode() == name:
            return fn
    return None


def _statement(node):
    """The statement holding ``node`` that sits directly in a ``{ }`` block."""
    while node.parent is not None and node.parent.type != "compound_statement":
        node = node.parent
    return node if node.parent is not None else None


def _following(stmt) -> list:
    """The statements after ``stmt`` in its block (comments left out)."""
    out, seen = [], False
    for c in stmt.parent.named_children:
        if c == stmt:
            seen = True
        elif seen and c.type != "comment":
            out.append(c)
    return out


def _result_var(stmt) -> str | None:
    """``r`` in ``r = kvm_io_bus_unregister_dev(...);`` (None when the result is dropped)."""
    for a in _nodes(stmt, "assignment_expression"):
        left = a.child_by_field_name("left")
        if left is not None and left.type == "identifier" and _calls(a.child_by_field_name("right"), UNREGISTER):
            return left.text.decode()
    for d in _nodes(stmt, "init_declarator"):  # int r = kvm_io_bus_unregister_dev(...);
        name = d.child_by_field_name("declarator")
        if name is not None and name.type == "identifier" and _calls(d, UNREGISTER):
            return name.text.decode()
    return None


def _is_stop(stmt, var: str | None) -> bool:
    """``if (r) break;`` (or ``if (r) { break; }``, ``if (r < 0)``/``r != 0``) with no else."""
    if stmt.type != "if_statement" or var is None or stmt.child_by_field_name("alternative") is not None:
        return False
    cond = stmt.child_by_field_name("condition")
    idents = [n.text.decode() for n in _nodes(cond, "identifier")]
    if idents != [var]:
        return False
    body = stmt.child_by_field_name("consequence")
    if body.type == "compound_statement":
        inner = [c for c in body.named_children if c.type != "comment"]
        if len(inner) != 1:
            return False
        body = inner[0]
    return body.type == "break_statement"


def _line(path: str, node, base: int) -> str:
    return f"{path}:{base + node.start_point[0]}"


# -- the two callers -----------------------------------------------------------------------


def zone_walk(spec: str, root: Path) -> tuple[ZoneWalk, tuple[str, ...]] | None:
    """The walk of the tree's coalesced-MMIO unregister, and the sequence read; None if the file is absent."""
    path = root / COALESCED
    if not path.is_file():
        return None
    piece = parse_file(path, COALESCED).pieces.get(ZONE_FN)
    if piece is None or piece.kind != "function":
        raise UsageError(f"bus {spec!r}: {COALESCED} defines no {ZONE_FN}(); the caller rules cannot be read from it (remove the file to use the era's)")
    fn = _function(piece.text, ZONE_FN)
    calls = _calls(fn, UNREGISTER) if fn is not None else []
    if len(calls) != 1:
        raise UsageError(f"bus {spec!r}: {COALESCED}:{piece.line} {ZONE_FN}() calls {UNREGISTER}() {len(calls)} times; the suite knows walks with exactly one call")
    stmt = _statement(calls[0])
    if stmt is None:
        raise UsageError(f"bus {spec!r}: {COALESCED}:{piece.line} {ZONE_FN}(): the {UNREGISTER}() call is in no {{ }} block; no known walk has that shape")
    var = _result_var(stmt)
    seq: list[str] = []
    for s in _following(stmt):
        if s.type == "expression_statement" and _calls(s, DESTRUCTOR) and len(list(_nodes(s, "call_expression"))) == 1:
            seq.append("destroy")  # C: kvm_iodevice_destructor(&dev->dev);
        elif _is_stop(s, var):
            if "stop" in seq:
                continue  # C: a second if (r) break;: r is unchanged since the first (nothing here assigns it), so never taken
            seq.append("stop")  # C: if (r) break;
        else:
            text = " ".join(s.text.decode().split())
            raise UsageError(
                f"bus {spec!r}: {_line(COALESCED, s, piece.line)} {ZONE_FN}(): after {UNREGISTER}() comes "
                f"{text[:60]!r}, which no known zone walk has (known: the destructor and 'if (r) break;'); the caller rules are unknown"
            )
    walk = WALKS.get(tuple(seq))
    if walk is None:
        shape = ", ".join(seq) or "nothing"
        raise UsageError(
            f"bus {spec!r}: {COALESCED}:{piece.line} {ZONE_FN}(): after {UNREGISTER}() the walk does {shape}; "
            f"no known caller rules walk that way (known: {'; '.join(', '.join(k) for k in WALKS)})"
        )
    return walk, tuple(seq)


def deassign_releases(spec: str, root: Path) -> tuple[bool, str] | None:
    """(whether deassign calls ioeventfd_release after the unregister, the function read); None if absent."""
    path = root / EVENTFD
    if not path.is_file():
        return None
    pieces = parse_file(path, EVENTFD).pieces
    for name in DEASSIGN_FNS:
        piece = pieces.get(name)
        if piece is None or piece.kind != "function":
            continue
        fn = _function(piece.text, name)
        calls = _calls(fn, UNREGISTER) if fn is not None else []
        if not calls:
            continue  # 3.19 on: kvm_deassign_ioeventfd only calls the _idx one
        if len(calls) != 1:
            raise UsageError(f"bus {spec!r}: {EVENTFD}:{piece.line} {name}() calls {UNREGISTER}() {len(calls)} times; the suite knows deassigns with exactly one call")
        stmt = _statement(calls[0])
        after = _following(stmt) if stmt is not None else []
        # C (before 5ea5ca3c2b4b): ioeventfd_release(p); after the unregister, whatever it did
        return any(_calls(s, RELEASE) for s in after), name
    raise UsageError(f"bus {spec!r}: {EVENTFD} has no {' or '.join(DEASSIGN_FNS)}() that calls {UNREGISTER}(); the caller rules cannot be read from it (remove the file to use the era's)")


def bus_destroys_target(extract) -> bool | None:
    """Whether the tree's ``kvm_io_bus_unregister_dev`` calls the destructor of the device it was given."""
    piece = extract.by_name(UNREGISTER)
    if piece is None:
        return None
    fn = _function(piece.text, UNREGISTER)
    if fn is None:
        return None
    params = fn.child_by_field_name("declarator")
    while params is not None and params.type != "function_declarator":
        params = params.child_by_field_name("declarator")
    names = []
    plist = params.child_by_field_name("parameters") if params is not None else None
    for p in plist.named_children if plist is not None else ():
        if p.type == "parameter_declaration":
            d = p.child_by_field_name("declarator")
            while d is not None and d.type not in ("identifier",):
                d = d.child_by_field_name("declarator")
            if d is not None:
                names.append(d.text.decode())
    if not names:
        return None
    dev = names[-1]  # (struct kvm *kvm, enum kvm_bus bus_idx, struct kvm_io_device *dev)
    for c in _calls(fn, DESTRUCTOR):
        args = c.child_by_field_name("arguments")
        if args is not None and [a.text.decode() for a in args.named_children] == [dev]:
            return True
    return False


# -- the decision ----------------------------------------------------------------------------


def _rules_for(release: bool, walk: ZoneWalk, era: str) -> list[CallerRules]:
    found = [r for r in CALLERS.values() if r.release_ioeventfd == release and r.zone_walk is walk]
    # "2011" and "pre-5d3c" are the same rules; the era names which one
    found.sort(key=lambda r: (r.name != DEFAULT_CALLERS[era], (r.name == "2011") != (era == "2011")))
    return found


def decide(spec: str, root: Path, era: str, extract=None) -> CallersDecision:
    """The caller rules of the tree at ``root`` (see the module docstring)."""
    walked = zone_walk(spec, root)
    released = deassign_releases(spec, root)
    destroys = bus_destroys_target(extract) if extract is not None else None
    default = CALLERS[DEFAULT_CALLERS[era]]
    bus_text = ""
    if destroys is not None:
        bus_text = "; kvm_io_bus_unregister_dev destroys its device (5ea5ca3c2b4b)" if destroys else "; kvm_io_bus_unregister_dev leaves the destroy to its callers"
    if walked is None and released is None:
        return CallersDecision(default.name, f"callers {default.name}: the era's default (no {COALESCED} or {EVENTFD} in the tree){bus_text}", None, None, destroys)
    walk = walked[0] if walked is not None else None
    release = released[0] if released is not None else None
    parts = []
    if walked is not None:
        parts.append(f"{ZONE_FN}: {', then '.join(walked[1])} after the unregister ({walk.value})")
    else:
        parts.append(f"no {COALESCED}")
    if released is not None:
        parts.append(f"{released[1]}: {'ioeventfd_release after the unregister' if release else 'no ioeventfd_release after the unregister'}")
    else:
        parts.append(f"no {EVENTFD}")
    if walk is not None and release is not None:
        found = _rules_for(release, walk, era)
    elif walk is not None:
        found = [r for r in CALLERS.values() if r.zone_walk is walk]
        found.sort(key=lambda r: (r.release_ioeventfd != default.release_ioeventfd, (r.name == "2011") != (era == "2011")))
    else:
        found = [r for r in CALLERS.values() if r.release_ioeventfd == release]
        found.sort(key=lambda r: (r.zone_walk is not default.zone_walk, (r.name == "2011") != (era == "2011"), r.zone_walk is not ZoneWalk.DESTROY_AND_CONTINUE))
    if not found:
        raise UsageError(
            f"bus {spec!r}: the tree's callers match no known caller rules ({'; '.join(parts)}); "
            f"known: {', '.join(f'{r.name} (release {r.release_ioeventfd}, {r.zone_walk.value})' for r in CALLERS.values())}"
        )
    rules = found[0]
    missing = "" if walked is not None and released is not None else f"; the missing half taken from {rules.name}"
    return CallersDecision(rules.name, f"callers {rules.name}: {'; '.join(parts)}{missing}{bus_text}", walk, release, destroys)
