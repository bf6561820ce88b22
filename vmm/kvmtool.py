"""kvmtool's I/O trap bus: an interval red-black tree per address space, modelled literally.

Sources (``kvmtool/kvmtool``; read at the commits named, prose and code ours):

* ``util/rbtree-interval.c`` and ``include/kvm/rbtree-interval.h`` at
  ``8682490069f263454e7637b5e889ca85a2ec95eb`` (the augmented interval tree on
  the 2012 augmented-rbtree API, before the fixes), ``c59e43aa2922`` ("fix
  rbtree-interval search"), ``3e64a4a46295`` ("ensure non-overlapping
  intervals in rb_int_insert()") and today's file (plain BST search, no
  augmentation since ``a83f8ed142f0``/``ffc83de3572f``, the same text at
  ``b48735e5d562eaffb96cf98a91da212176f1534c``).
* The Linux red-black tree kvmtool links (``lib/rbtree.c``,
  ``include/linux/rbtree_augmented.h``, Michel Lespinasse's 2012 rewrite;
  read at ``Rtoax/linux-5.10.13``, whose insert/erase cases and callback order
  are those of v3.7 onwards): ``__rb_insert``, ``__rb_erase_augmented``,
  ``____rb_erase_color``. Which node a lookup reaches depends on the shape these
  rotations leave, so they are modelled case by case.
* ``mmio.c`` at ``72e13944777a6c60fbcd78ef97e06ffd00969d77`` /
  ``52d4ee7cb52071f6ca5cdd0c9e504c4f0fefcc35`` (``kvm__register_iotrap``,
  ``kvm__deregister_iotrap``, ``kvm__emulate_mmio``, ``kvm__emulate_io``,
  ``mmio_search`` with and without the ``addr + len <= addr`` guard) and at
  ``026fb59cb4e9`` (the 2012 ``kvm__register_mmio``).
* ``ioport.c`` at ``026fb59cb4e9`` (re-registration evicts), at
  ``bea6c33ca17c85c76e8455fb86e38036bdb2a928`` (plain insert, ``-EEXIST``) and
  at ``96f0c86ce221e4a7b3a350068ea93b478493ee8c`` (refcounts, last version
  before PIO moved into ``mmio.c``).
* ``devices.c`` (``device__register``, ``device__unregister``,
  ``device__find_dev``) at ``21ff329de899`` (no ``parent = *node``) and the
  later text that sets it.
* ``pci.c`` ``pci_config_bar_wr`` / ``pci_toggle_bar_regions`` (BAR relocation).

What the versions change (:data:`VERSIONS`, one :class:`KvmtoolVersion` each):

* ``8682490`` augmented search (go left while the left child's ``max_high`` is
  above the point); ``RB_INT_INIT`` leaves ``max_high`` 0; the propagate
  callback has no ``node == stop`` guard (erasing a root with at most one child
  calls it with NULL: a crash, :class:`ModelPanic`); insert orders by
  ``int result = new.low - cur.low`` (u64 difference truncated to a 32-bit
  int), ``-EEXIST`` only when that is 0.
* ``c59e43a``: ``max_high`` initialised to ``high``, the guard added.
* ``3e64a4a``: insert compares intervals (left if ``new.high <= cur.low``,
  right if ``cur.high <= new.low``, else ``-EEXIST``).
* ``a83f8ed``: plain BST search, ``rb_insert_color``/``rb_erase``.
* ``bea6c33``: ``ioport__register`` no longer evicts the port's node.
* ``96f0c86``: PIO goes through ``mmio_search`` (whole access contained).
* ``52d4ee7`` = ``b48735e5`` (today): the ``addr + len <= addr`` guard.

Two defects of the augmented era that the reference does not list are modelled
because the code has them: kvmtool's ``copy_callback`` copies ``low`` and
``high`` (not only ``max_high``) into the successor when a node with two
children is erased, so the successor's mapping takes over the erased range and
its own range is lost; and ``rb_int_insert`` never updates ``max_high`` on the
path to the new node (the augmented API leaves that to the caller), and the
propagate callback updates one node instead of walking up, so stale
``max_high`` values hide nodes from the search.

The BAR move of the adapter follows ``pci.c`` and ``virtio/pci.c``'s
``bar_activate``/``bar_deactivate``: overlapping BARs are found in ``u32``
arithmetic whatever their type (I/O and memory BARs are compared with each
other), and since the PIO conversion the I/O deactivation stores the bool of
``kvm__deregister_pio`` in an ``int``, so a failed one reads as success.

Single-threaded: ``mmio_get``/``mmio_put`` refcounts are always 0 outside an
access, so removal is immediate. Coalesced MMIO zones (``IOTRAP_COALESCE``) and
``-ENOMEM`` are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from iobus_verify.model.cints import U64_MAX, c_int, u32, u64

try:  # the framework's panic type when it exists, so the report can tell it apart
    from iobus_verify.vmm import ModelPanic  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the merge

    class ModelPanic(Exception):  # type: ignore[no-redef]
        """The modelled C code would crash or abort here (NULL dereference, BUG_ON, assert)."""


EEXIST = 17
ENOENT = 2
EINVAL = 22

U16_MAX = 0xFFFF

RB_RED = 0
RB_BLACK = 1


# --------------------------------------------------------------------------
# The Linux red-black tree (lib/rbtree.c, include/linux/rbtree_augmented.h)
# --------------------------------------------------------------------------


class RbNode:
    """``struct rb_node``: ``__rb_parent_color`` is kept as two fields."""

    __slots__ = ("parent", "color", "rb_left", "rb_right")

    def __init__(self) -> None:
        self.parent: RbNode | None = None
        self.color = RB_RED
        self.rb_left: RbNode | None = None
        self.rb_right: RbNode | None = None


class RbRoot:
    """``struct rb_root``."""

    __slots__ = ("rb_node",)

    def __init__(self) -> None:
        self.rb_node: RbNode | None = None


@dataclass
class Link:
    """A ``struct rb_node **``: the child slot of ``owner`` (or the root slot when owner is the root)."""

    owner: Any  # RbRoot or RbNode
    side: str  # "rb_node", "rb_left" or "rb_right"

    def get(self) -> RbNode | None:
        return getattr(self.owner, self.side)

    def set(self, node: RbNode | None) -> None:
        setattr(self.owner, self.side, node)


def rb_link_node(node: RbNode, parent: RbNode | None, link: Link) -> None:
    # C: node->__rb_parent_color = (unsigned long)parent  (colour bit 0: red)
    node.parent, node.color = parent, RB_RED
    node.rb_left = node.rb_right = None
    link.set(node)  # C: *rb_link = node


def _is_red(n: RbNode) -> bool:
    return n.color == RB_RED


def _set_parent_color(n: RbNode, p: RbNode | None, color: int) -> None:
    n.parent, n.color = p, color


def _change_child(old: RbNode, new: RbNode | None, parent: RbNode | None, root: RbRoot) -> None:
    if parent is not None:
        if parent.rb_left is old:
            parent.rb_left = new
        else:
            parent.rb_right = new
    else:
        root.rb_node = new


def _rotate_set_parents(old: RbNode, new: RbNode, root: RbRoot, color: int) -> None:
    parent = old.parent
    new.parent, new.color = old.parent, old.color  # C: new->__rb_parent_color = old->__rb_parent_color
    _set_parent_color(old, new, color)
    _change_child(old, new, parent, root)


def _deref(n: RbNode | None, what: str) -> RbNode:
    if n is None:
        raise ModelPanic(f"NULL pointer dereference in {what}")
    return n


def rb_insert(node: RbNode, root: RbRoot, augment_rotate: Callable[[RbNode, RbNode], None]) -> None:
    """``__rb_insert``: recolour and rotate up from a freshly linked red node."""
    parent = node.parent  # C: rb_red_parent(node)
    while True:
        if parent is None:
            _set_parent_color(node, None, RB_BLACK)
            break
        if not _is_red(parent):
            break
        gparent = _deref(parent.parent, "__rb_insert (red node without parent)")
        tmp = gparent.rb_right
        if parent is not tmp:  # parent == gparent->rb_left
            if tmp is not None and _is_red(tmp):  # case 1: colour flips
                _set_parent_color(tmp, gparent, RB_BLACK)
                _set_parent_color(parent, gparent, RB_BLACK)
                node = gparent
                parent = node.parent
                _set_parent_color(node, parent, RB_RED)
                continue
            tmp = parent.rb_right
            if node is tmp:  # case 2: left rotate at parent
                tmp = node.rb_left
                parent.rb_right = tmp
                node.rb_left = parent
                if tmp is not None:
                    _set_parent_color(tmp, parent, RB_BLACK)
                _set_parent_color(parent, node, RB_RED)
                augment_rotate(parent, node)
                parent = node
                tmp = node.rb_right
            # case 3: right rotate at gparent
            gparent.rb_left = tmp
            parent.rb_right = gparent
            if tmp is not None:
                _set_parent_color(tmp, gparent, RB_BLACK)
            _rotate_set_parents(gparent, parent, root, RB_RED)
            augment_rotate(gparent, parent)
            break
        else:
            tmp = gparent.rb_left
            if tmp is not None and _is_red(tmp):  # case 1
                _set_parent_color(tmp, gparent, RB_BLACK)
                _set_parent_color(parent, gparent, RB_BLACK)
                node = gparent
                parent = node.parent
                _set_parent_color(node, parent, RB_RED)
                continue
            tmp = parent.rb_left
            if node is tmp:  # case 2: right rotate at parent
                tmp = node.rb_right
                parent.rb_left = tmp
                node.rb_right = parent
                if tmp is not None:
                    _set_parent_color(tmp, parent, RB_BLACK)
                _set_parent_color(parent, node, RB_RED)
                augment_rotate(parent, node)
                parent = node
                tmp = node.rb_left
            # case 3: left rotate at gparent
            gparent.rb_right = tmp
            parent.rb_left = gparent
            if tmp is not None:
                _set_parent_color(tmp, gparent, RB_BLACK)
            _rotate_set_parents(gparent, parent, root, RB_RED)
            augment_rotate(gparent, parent)
            break


def rb_erase_color(parent: RbNode, root: RbRoot, augment_rotate: Callable[[RbNode, RbNode], None]) -> None:
    """``____rb_erase_color``: restore the black height after removing a black leaf."""
    node: RbNode | None = None
    while True:
        sibling = parent.rb_right
        if node is not sibling:  # node == parent->rb_left
            sibling = _deref(sibling, "____rb_erase_color")
            if _is_red(sibling):  # case 1: left rotate at parent
                tmp1 = _deref(sibling.rb_left, "____rb_erase_color")
                parent.rb_right = tmp1
                sibling.rb_left = parent
                _set_parent_color(tmp1, parent, RB_BLACK)
                _rotate_set_parents(parent, sibling, root, RB_RED)
                augment_rotate(parent, sibling)
                sibling = tmp1
            tmp1 = sibling.rb_right
            if tmp1 is None or not _is_red(tmp1):
                tmp2 = sibling.rb_left
                if tmp2 is None or not _is_red(tmp2):  # case 2: sibling colour flip
                    _set_parent_color(sibling, parent, RB_RED)
                    if _is_red(parent):
                        parent.color = RB_BLACK
                    else:
                        node = parent
                        parent = node.parent  # type: ignore[assignment]
                        if parent is not None:
                            continue
                    break
                # case 3: right rotate at sibling
                tmp1 = tmp2.rb_right
                sibling.rb_left = tmp1
                tmp2.rb_right = sibling
                parent.rb_right = tmp2
                if tmp1 is not None:
                    _set_parent_color(tmp1, sibling, RB_BLACK)
                augment_rotate(sibling, tmp2)
                tmp1 = sibling
                sibling = tmp2
            # case 4: left rotate at parent + colour flips
            tmp2 = sibling.rb_left
            parent.rb_right = tmp2
            sibling.rb_left = parent
            _set_parent_color(tmp1, sibling, RB_BLACK)
            if tmp2 is not None:
                tmp2.parent = parent
            _rotate_set_parents(parent, sibling, root, RB_BLACK)
            augment_rotate(parent, sibling)
            break
        else:
            sibling = _deref(parent.rb_left, "____rb_erase_color")
            if _is_red(sibling):  # case 1: right rotate at parent
                tmp1 = _deref(sibling.rb_right, "____rb_erase_color")
                parent.rb_left = tmp1
                sibling.rb_right = parent
                _set_parent_color(tmp1, parent, RB_BLACK)
                _rotate_set_parents(parent, sibling, root, RB_RED)
                augment_rotate(parent, sibling)
                sibling = tmp1
            tmp1 = sibling.rb_left
            if tmp1 is None or not _is_red(tmp1):
                tmp2 = sibling.rb_right
                if tmp2 is None or not _is_red(tmp2):  # case 2
                    _set_parent_color(sibling, parent, RB_RED)
                    if _is_red(parent):
                        parent.color = RB_BLACK
                    else:
                        node = parent
                        parent = node.parent  # type: ignore[assignment]
                        if parent is not None:
                            continue
                    break
                # case 3: left rotate at sibling
                tmp1 = tmp2.rb_left
                sibling.rb_right = tmp1
                tmp2.rb_left = sibling
                parent.rb_left = tmp2
                if tmp1 is not None:
                    _set_parent_color(tmp1, sibling, RB_BLACK)
                augment_rotate(sibling, tmp2)
                tmp1 = sibling
                sibling = tmp2
            # case 4: right rotate at parent + colour flips
            tmp2 = sibling.rb_right
            parent.rb_left = tmp2
            sibling.rb_right = parent
            _set_parent_color(tmp1, sibling, RB_BLACK)
            if tmp2 is not None:
                tmp2.parent = parent
            _rotate_set_parents(parent, sibling, root, RB_BLACK)
            augment_rotate(parent, sibling)
            break


class Augment:
    """``struct rb_augment_callbacks``; the base class is the dummy set of ``rb_insert_color``/``rb_erase``."""

    def propagate(self, node: RbNode | None, stop: RbNode | None) -> None:
        pass

    def copy(self, old: RbNode, new: RbNode) -> None:
        pass

    def rotate(self, old: RbNode, new: RbNode) -> None:
        pass


DUMMY = Augment()


def rb_erase_augmented(node: RbNode, root: RbRoot, augment: Augment) -> None:
    """``rb_erase_augmented`` = ``__rb_erase_augmented`` + ``__rb_erase_color``."""
    child = node.rb_right
    tmp = node.rb_left
    if tmp is None:  # case 1: at most one child (the right one)
        pc_parent, pc_color = node.parent, node.color
        parent = pc_parent
        _change_child(node, child, parent, root)
        if child is not None:
            child.parent, child.color = pc_parent, pc_color  # C: child->__rb_parent_color = pc
            rebalance = None
        else:
            rebalance = parent if pc_color == RB_BLACK else None
        tmp = parent
    elif child is None:  # still case 1, the child is the left one
        pc_parent, pc_color = node.parent, node.color
        tmp.parent, tmp.color = pc_parent, pc_color
        parent = pc_parent
        _change_child(node, tmp, parent, root)
        rebalance = None
        tmp = parent
    else:
        successor = child
        tmp = child.rb_left
        if tmp is None:  # case 2: the successor is the right child
            parent = successor
            child2 = successor.rb_right
            augment.copy(node, successor)
        else:  # case 3: the successor is leftmost under the right child
            while True:
                parent = successor
                successor = tmp
                tmp = tmp.rb_left
                if tmp is None:
                    break
            child2 = successor.rb_right
            parent.rb_left = child2
            successor.rb_right = child
            child.parent = successor  # C: rb_set_parent(child, successor)
            augment.copy(node, successor)
            augment.propagate(parent, successor)
        tmp = node.rb_left
        successor.rb_left = tmp
        tmp.parent = successor
        pc_parent, pc_color = node.parent, node.color
        tmp = pc_parent
        _change_child(node, successor, tmp, root)
        if child2 is not None:
            _set_parent_color(child2, parent, RB_BLACK)
            rebalance = None
        else:
            rebalance = parent if successor.color == RB_BLACK else None
        successor.parent, successor.color = pc_parent, pc_color
        tmp = successor
    augment.propagate(tmp, None)
    if rebalance is not None:
        rb_erase_color(rebalance, root, augment.rotate)


def rb_insert_color(node: RbNode, root: RbRoot) -> None:
    rb_insert(node, root, DUMMY.rotate)


def rb_erase(node: RbNode, root: RbRoot) -> None:
    rb_erase_augmented(node, root, DUMMY)


def rb_first(root: RbRoot) -> RbNode | None:
    n = root.rb_node
    if n is None:
        return None
    while n.rb_left is not None:
        n = n.rb_left
    return n


def rb_next(node: RbNode) -> RbNode | None:
    if node.rb_right is not None:
        node = node.rb_right
        while node.rb_left is not None:
            node = node.rb_left
        return node
    parent = node.parent
    while parent is not None and node is parent.rb_right:
        node = parent
        parent = node.parent
    return parent


def inorder(root: RbRoot) -> Iterator[RbNode]:
    """Every node by child links (not parent links), left to right; for inspection only."""
    stack: list[RbNode] = []
    n = root.rb_node
    while stack or n is not None:
        while n is not None:
            stack.append(n)
            n = n.rb_left
        n = stack.pop()
        yield n
        n = n.rb_right


# --------------------------------------------------------------------------
# kvmtool versions
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class KvmtoolVersion:
    """One behaviour of kvmtool's trap bus; each flag names the commit that changed it."""

    name: str
    commit: str
    augmented: bool  # max_high search + augmented callbacks (until a83f8ed)
    max_high_init: bool  # c59e43a: RB_INT_INIT sets max_high = high
    propagate_guard: bool  # c59e43a: propagate_callback returns when node == stop
    interval_insert: bool  # 3e64a4a: insert compares intervals; before, the int low difference
    ioport_evict: bool  # before bea6c33: ioport__register erases the node holding the port
    pio_via_mmio: bool  # 96f0c86: PIO through mmio_search (whole access contained)
    access_guard: bool  # 52d4ee7: mmio_search rejects addr + len <= addr


_TODAY = KvmtoolVersion(
    name="b48735e5",
    commit="b48735e5d562eaffb96cf98a91da212176f1534c",
    augmented=False,
    max_high_init=True,
    propagate_guard=True,
    interval_insert=True,
    ioport_evict=False,
    pio_via_mmio=True,
    access_guard=True,
)

#: Named versions, oldest first. Each differs from the next by the commit it names.
VERSIONS: dict[str, KvmtoolVersion] = {
    v.name: v
    for v in [
        replace(_TODAY, name="8682490", commit="8682490069f263454e7637b5e889ca85a2ec95eb", augmented=True,
                max_high_init=False, propagate_guard=False, interval_insert=False, ioport_evict=True,
                pio_via_mmio=False, access_guard=False),
        replace(_TODAY, name="c59e43a", commit="c59e43aa29229d10fecea1f919077084ce3c328c", augmented=True,
                interval_insert=False, ioport_evict=True, pio_via_mmio=False, access_guard=False),
        replace(_TODAY, name="3e64a4a", commit="3e64a4a46295168d4db83838a4321a65ae65454d", augmented=True,
                ioport_evict=True, pio_via_mmio=False, access_guard=False),
        replace(_TODAY, name="a83f8ed", commit="a83f8ed142f0df82e233a08d450bb80d002c399a",
                ioport_evict=True, pio_via_mmio=False, access_guard=False),
        replace(_TODAY, name="bea6c33", commit="bea6c33ca17c85c76e8455fb86e38036bdb2a928",
                pio_via_mmio=False, access_guard=False),
        replace(_TODAY, name="96f0c86", commit="96f0c86ce221e4a7b3a350068ea93b478493ee8c", access_guard=False),
        replace(_TODAY, name="52d4ee7", commit="52d4ee7cb52071f6ca5cdd0c9e504c4f0fefcc35"),
        _TODAY,
    ]
}


# --------------------------------------------------------------------------
# util/rbtree-interval.c
# --------------------------------------------------------------------------


class RbIntNode(RbNode):
    """``struct rb_int_node {node; u64 low, high; u64 max_high (augmented era)}``."""

    __slots__ = ("low", "high", "max_high")

    def __init__(self, low: int, high: int, version: KvmtoolVersion) -> None:
        super().__init__()
        self.low = u64(low)
        self.high = u64(high)
        # C: RB_INT_INIT(l, h) = {.low = l, .high = h[, .max_high = h]}; unnamed fields are 0
        self.max_high = self.high if version.max_high_init else 0


class IntervalCallbacks(Augment):
    """kvmtool's ``propagate_callback``/``copy_callback``/``rotate_callback`` (augmented era)."""

    def __init__(self, version: KvmtoolVersion) -> None:
        self.v = version

    def propagate(self, node: RbNode | None, stop: RbNode | None) -> None:
        if self.v.propagate_guard and node is stop:  # C: if (node == stop) return;  (c59e43a)
            return
        i = _deref(node, "propagate_callback (rb_int(NULL)->max_high)")
        assert isinstance(i, RbIntNode)
        # C: one node only; the Linux template would walk up to stop.
        i.max_high = i.high
        if i.rb_left is not None:
            i.max_high = max(i.max_high, i.rb_left.max_high)  # type: ignore[attr-defined]
        if i.rb_right is not None:
            i.max_high = max(i.max_high, i.rb_right.max_high)  # type: ignore[attr-defined]

    def copy(self, old: RbNode, new: RbNode) -> None:
        assert isinstance(old, RbIntNode) and isinstance(new, RbIntNode)
        new.low = old.low  # C: copies the interval too, not only the augmented field
        new.high = old.high
        new.max_high = old.max_high

    def rotate(self, old: RbNode, new: RbNode) -> None:
        self.propagate(old, None)
        self.propagate(new, None)


class IntervalTree:
    """One ``struct rb_root`` of ``rb_int_node``s with the version's ``rb_int_*`` functions."""

    def __init__(self, version: KvmtoolVersion) -> None:
        self.v = version
        self.root = RbRoot()
        self.callbacks = IntervalCallbacks(version)

    def rb_int_search_single(self, point: int) -> RbIntNode | None:
        point = u64(point)
        node = self.root.rb_node
        if self.v.augmented:
            lowest = None
            while node is not None:
                cur = node
                assert isinstance(cur, RbIntNode)
                if node.rb_left is not None and node.rb_left.max_high > point:  # type: ignore[attr-defined]
                    node = node.rb_left
                elif cur.low <= point and cur.high > point:
                    lowest = node
                    break
                elif point > cur.low:
                    node = node.rb_right
                else:
                    break
            return lowest  # type: ignore[return-value]
        while node is not None:
            cur = node
            assert isinstance(cur, RbIntNode)
            if point < cur.low:
                node = node.rb_left
            elif cur.high <= point:
                node = node.rb_right
            else:
                return cur
        return None

    def rb_int_search_range(self, low: int, high: int) -> RbIntNode | None:
        rng = self.rb_int_search_single(low)
        if rng is None:
            return None
        if rng.high < u64(high):  # C: the end of the range holding low must reach high
            return None
        return rng

    def rb_int_insert(self, i_node: RbIntNode) -> int:
        link = Link(self.root, "rb_node")
        parent = None
        while link.get() is not None:
            cur = link.get()
            assert isinstance(cur, RbIntNode)
            parent = cur
            if self.v.interval_insert:
                if i_node.high <= cur.low:
                    link = Link(cur, "rb_left")
                elif cur.high <= i_node.low:
                    link = Link(cur, "rb_right")
                else:
                    return -EEXIST
            else:
                result = c_int(i_node.low - cur.low)  # C: int result = new->low - cur->low (u64, truncated)
                if result < 0:
                    link = Link(cur, "rb_left")
                elif result > 0:
                    link = Link(cur, "rb_right")
                else:
                    return -EEXIST
        rb_link_node(i_node, parent, link)
        if self.v.augmented:
            rb_insert(i_node, self.root, self.callbacks.rotate)  # C: rb_insert_augmented
        else:
            rb_insert_color(i_node, self.root)
        return 0

    def rb_int_erase(self, node: RbIntNode) -> None:
        if self.v.augmented:
            rb_erase_augmented(node, self.root, self.callbacks)
        else:
            rb_erase(node, self.root)

    # -- inspection (not C) -----------------------------------------------
    def nodes(self) -> list[RbIntNode]:
        return list(inorder(self.root))  # type: ignore[arg-type]

    def shape(self) -> Any:
        """The tree as nested ``(low, high, colour, left, right)`` tuples (colour 'R'/'B')."""

        def walk(n: RbNode | None) -> Any:
            if n is None:
                return None
            assert isinstance(n, RbIntNode)
            return (n.low, n.high, "R" if n.color == RB_RED else "B", walk(n.rb_left), walk(n.rb_right))

        return walk(self.root.rb_node)

    def check_rb(self) -> None:
        """Assert the red-black properties and parent links (raises AssertionError)."""

        def walk(n: RbNode | None, parent: RbNode | None) -> int:
            if n is None:
                return 1
            assert n.parent is parent, "parent link"
            if n.color == RB_RED:
                assert parent is None or parent.color == RB_BLACK, "red parent of red node"
            lh = walk(n.rb_left, n)
            rh = walk(n.rb_right, n)
            assert lh == rh, "black height"
            return lh + (n.color == RB_BLACK)

        if self.root.rb_node is not None:
            assert self.root.rb_node.color == RB_BLACK, "red root"
        walk(self.root.rb_node, None)


# --------------------------------------------------------------------------
# devices.c
# --------------------------------------------------------------------------

DEVICE_BUS_PCI, DEVICE_BUS_MMIO, DEVICE_BUS_IOPORT, DEVICE_BUS_MAX = 0, 1, 2, 3


class DeviceHeader(RbNode):
    """``struct device_header {bus_type; data; int dev_num; node}``."""

    __slots__ = ("bus_type", "data", "dev_num")

    def __init__(self, bus_type: int, data: Any = None) -> None:
        super().__init__()
        self.bus_type, self.data, self.dev_num = bus_type, data, 0


class Devices:
    """``devices.c``: per bus type, an rbtree keyed by ``dev_num`` (a counter).

    ``link_parent=False`` is the stored older text (``21ff329de899``), whose
    insert loop never sets ``parent``: every node is linked with a NULL parent,
    so ``rb_insert_color`` treats it as the root (no rebalancing) and
    ``rb_erase`` of a node with at most one child replaces the root with it.
    """

    def __init__(self, link_parent: bool = True) -> None:
        self.link_parent = link_parent
        self.roots = [RbRoot() for _ in range(DEVICE_BUS_MAX)]
        self.counters = [0] * DEVICE_BUS_MAX

    def device__register(self, dev: DeviceHeader) -> int:
        if dev.bus_type >= DEVICE_BUS_MAX:
            return -EINVAL
        dev.dev_num = self.counters[dev.bus_type]
        self.counters[dev.bus_type] += 1  # C: dev->dev_num = bus->dev_num++
        root = self.roots[dev.bus_type]
        link, parent = Link(root, "rb_node"), None
        while link.get() is not None:
            cur = link.get()
            assert isinstance(cur, DeviceHeader)
            result = c_int(dev.dev_num - cur.dev_num)
            if self.link_parent:
                parent = cur  # C: parent = *node;  (absent in 21ff329)
            if result < 0:
                link = Link(cur, "rb_left")
            elif result > 0:
                link = Link(cur, "rb_right")
            else:
                return -EEXIST
        rb_link_node(dev, parent, link)
        rb_insert_color(dev, root)
        return 0

    def device__unregister(self, dev: DeviceHeader) -> None:
        rb_erase(dev, self.roots[dev.bus_type])

    def device__find_dev(self, bus_type: int, dev_num: int) -> DeviceHeader | None:
        if bus_type >= DEVICE_BUS_MAX:
            return None  # C: ERR_PTR(-EINVAL)
        dev_num &= 0xFF  # C: u8 dev_num
        node = self.roots[bus_type].rb_node
        while node is not None:
            assert isinstance(node, DeviceHeader)
            if dev_num < node.dev_num:
                node = node.rb_left
            elif dev_num > node.dev_num:
                node = node.rb_right
            else:
                return node
        return None

    def device__first_dev(self, bus_type: int) -> DeviceHeader | None:
        return rb_first(self.roots[bus_type])  # type: ignore[return-value]

    def device__next_dev(self, dev: DeviceHeader) -> DeviceHeader | None:
        return rb_next(dev)  # type: ignore[return-value]


# --------------------------------------------------------------------------
# mmio.c / ioport.c
# --------------------------------------------------------------------------


class Mapping(RbIntNode):
    """``struct mmio_mapping`` (or the old ``struct ioport``): the node plus the handler's device."""

    __slots__ = ("dev", "dev_hdr")

    def __init__(self, low: int, high: int, dev: Any, version: KvmtoolVersion) -> None:
        super().__init__(low, high, version)
        self.dev = dev
        self.dev_hdr: DeviceHeader | None = None


class Kvmtool:
    """The native API of one kvmtool VM: the MMIO tree, the PIO tree, the device registry.

    Method names follow the C functions; integer arguments are converted to the
    C parameter types (``u64``, ``u32``, ``u16``, ``int``) as the call would.
    """

    def __init__(self, version: str | KvmtoolVersion = "b48735e5", devices_link_parent: bool = True) -> None:
        self.v = VERSIONS[version] if isinstance(version, str) else version
        self.mmio_tree = IntervalTree(self.v)
        self.pio_tree = IntervalTree(self.v)  # ioport_tree before 96f0c86
        self.devices = Devices(link_parent=devices_link_parent)
        self.log: list[str] = []  # pr_warning lines

    # -- mmio.c -----------------------------------------------------------
    def kvm__register_iotrap(self, phys_addr: int, phys_addr_len: int, dev: Any, pio: bool = False) -> int:
        """``kvm__register_iotrap`` (``kvm__register_mmio`` before 2021): 0 or ``-EEXIST``."""
        phys_addr, phys_addr_len = u64(phys_addr), u64(phys_addr_len)
        mmio = Mapping(phys_addr, u64(phys_addr + phys_addr_len), dev, self.v)  # C: u64 sum, wraps
        tree = self.pio_tree if pio else self.mmio_tree
        return tree.rb_int_insert(mmio)
        # C: on -EEXIST the mapping is leaked, not freed (no effect on lookups)

    kvm__register_mmio = kvm__register_iotrap

    def kvm__register_pio(self, port: int, length: int, dev: Any) -> int:
        """``kvm__register_pio(kvm, u16 port, u16 len, ...)``: both widened to u64, no wrap at 2^16."""
        return self.kvm__register_iotrap(port & U16_MAX, length & U16_MAX, dev, pio=True)

    def kvm__deregister_iotrap(self, phys_addr: int, pio: bool = False) -> bool:
        """Any address inside a mapping selects it (``rb_int_search_single``); False when none."""
        tree = self.pio_tree if pio else self.mmio_tree
        mmio = tree.rb_int_search_single(u64(phys_addr))
        if mmio is None:
            return False
        tree.rb_int_erase(mmio)  # C: refcount is 0 outside an access: erased at once
        return True

    def kvm__deregister_mmio(self, phys_addr: int) -> bool:
        return self.kvm__deregister_iotrap(phys_addr)

    def kvm__deregister_pio(self, port: int) -> bool:
        return self.kvm__deregister_iotrap(port & U16_MAX, pio=True)

    def mmio_search(self, tree: IntervalTree, addr: int, length: int) -> Mapping | None:
        addr, length = u64(addr), u64(length)
        if self.v.access_guard and u64(addr + length) <= addr:  # C: 52d4ee7
            return None
        return tree.rb_int_search_range(addr, u64(addr + length))  # type: ignore[return-value]

    def kvm__emulate_mmio(self, phys_addr: int, length: int) -> Any:
        """The device whose handler is called for ``(phys_addr, u32 len)``, or None (ignored)."""
        m = self.mmio_search(self.mmio_tree, phys_addr, u32(length))
        return None if m is None else m.dev

    def kvm__emulate_io(self, port: int, size: int, count: int = 1) -> Any:
        """``kvm__emulate_io(vcpu, u16 port, ..., int size, u32 count)``: the device called, or None.

        Since 96f0c86 through ``mmio_search(pio_tree, port, size)`` (the int
        size converted to ``u32``); before, the node containing ``port`` only.
        The handler is called ``count`` times with the same absolute port."""
        port = port & U16_MAX
        if self.v.pio_via_mmio:
            m = self.mmio_search(self.pio_tree, port, u32(c_int(size)))
        else:
            m = self.pio_tree.rb_int_search_single(port)  # type: ignore[assignment]
        return None if m is None else m.dev

    # -- ioport.c (before 96f0c86) ---------------------------------------
    def ioport__register(self, port: int, count: int, dev: Any) -> int:
        """``ioport__register(kvm, u16 port, ops, int count, param)``: ``port`` or a negative errno.

        Before bea6c33 the node holding ``port`` is erased first (warned, not
        freed, its device header left registered), so a failing insert loses
        both. The ``IOPORT_EMPTY`` port allocation of older texts is not modelled."""
        port &= U16_MAX
        count = c_int(count)
        if self.v.ioport_evict:
            entry = self.pio_tree.rb_int_search_single(port)
            if entry is not None:
                self.log.append(f"ioport re-registered: {port:x}")
                self.pio_tree.rb_int_erase(entry)
        entry = Mapping(port, u64(port + count), dev, self.v)  # C: int port + count, then to u64
        entry.dev_hdr = DeviceHeader(DEVICE_BUS_IOPORT, entry)
        r = self.pio_tree.rb_int_insert(entry)
        if r < 0:
            return r  # C: free(entry)
        r = self.devices.device__register(entry.dev_hdr)
        if r < 0 and not self.v.ioport_evict:  # C (bea6c33 on): out_remove
            self.pio_tree.rb_int_erase(entry)
            return r
        return port

    def ioport__unregister(self, port: int) -> int:
        entry = self.pio_tree.rb_int_search_single(port & U16_MAX)
        if entry is None:
            return -ENOENT
        assert isinstance(entry, Mapping)
        if entry.dev_hdr is not None:
            self.devices.device__unregister(entry.dev_hdr)
        self.pio_tree.rb_int_erase(entry)
        return 0


# --------------------------------------------------------------------------
# The uniform adapter
# --------------------------------------------------------------------------

PCI_BASE_ADDRESS_MEM_MASK = u32(~0x0F)
PCI_BASE_ADDRESS_IO_MASK = u32(~0x03)


@dataclass
class _Bar:
    """A PCI BAR the adapter has seen: ``pci_hdr->bar[i]`` and ``bar_active[i]``."""

    dev: Any
    space: str
    base: int
    size: int
    active: bool
    pci: bool


def _errno(rc: int) -> str:
    return {-EEXIST: "-EEXIST", -ENOENT: "-ENOENT", -EINVAL: "-EINVAL"}.get(rc, str(rc))


class KvmtoolBus:
    """The framework's view of kvmtool: spaces ``"mmio"`` and ``"pio"`` (16-bit ports).

    Errors are strings naming what the C returns: ``"-EEXIST"``, ``"-ENOENT"``,
    or ``"false"`` for the bool ``kvm__deregister_*``. :class:`ModelPanic` is
    raised where the C would crash (the pre-c59e43a NULL dereference).

    ``non_pci`` lists devices that are not PCI functions (platform devices such
    as the serial port): their ranges are never toggled by a BAR move. Every
    other registered device is treated as a PCI function with one BAR per
    registration.
    """

    SPACES = ("mmio", "pio")
    VERSIONS = VERSIONS
    #: What the code implements, for the framework's contract (today's version).
    CONTRACT = {
        "overlap": "rejected (-EEXIST) for proper ranges; zero-length and wrapping ranges are stored as phantoms",
        "zero_length_range": "accepted",
        "access_match": "contained whole (addr + len <= high); len 0 and accesses reaching 2^64 miss",
        "pio_bits": 16,
        "remove_by": "any address inside the range",
        "relocate": "PCI BAR write: not atomic; on failure the BAR is unmapped at both addresses",
    }

    def __init__(self, version: str | KvmtoolVersion = "b48735e5", non_pci: Any = ()) -> None:
        self.native = Kvmtool(version)
        self.v = self.native.v
        self.non_pci = list(non_pci)
        self.bars: list[_Bar] = []  # device order: device__first_dev/next_dev follow registration

    # -- helpers ------------------------------------------------------------
    def _activate(self, space: str, base: int, length: int, dev: Any) -> int:
        """A BAR's ``bar_activate_fn`` as virtio/pci.c writes it (also used by ``register``)."""
        if space == "mmio":
            return self.native.kvm__register_iotrap(base, length, dev)
        if self.v.pio_via_mmio:
            return self.native.kvm__register_pio(base, length, dev)
        r = self.native.ioport__register(base, length, dev)
        return r if r < 0 else 0

    def _deactivate(self, space: str, base: int) -> int:
        """``bar_deactivate_fn`` of virtio/pci.c: MMIO ``-ENOENT`` when nothing is found."""
        if space == "mmio":
            return 0 if self.native.kvm__deregister_mmio(base) else -ENOENT
        if self.v.pio_via_mmio:
            # C (virtio/pci.c bar_deactivate, case 0): r = kvm__deregister_pio(...), a bool
            # stored in an int: false is 0, so a failed PIO deactivation reads as success.
            self.native.kvm__deregister_pio(base)
            return 0
        return self.native.ioport__unregister(base)

    def _is_pci(self, dev: Any) -> bool:
        return not any(dev is d for d in self.non_pci)

    # -- the interface ------------------------------------------------------
    def register(self, space: str, base: int, length: int, dev: Any) -> str | None:
        """mmio: ``kvm__register_iotrap(base, length)`` (u64 each, ``high`` wraps).
        pio: ``kvm__register_pio(u16 port, u16 len)`` (96f0c86 on) or
        ``ioport__register(u16 port, int count)`` (before; evicts before bea6c33).
        Zero length and wrapping ranges are accepted as the C accepts them."""
        r = self._activate(space, base, length, dev)
        if r < 0:
            return _errno(r)
        self.bars.append(_Bar(dev, space, base, length, True, self._is_pci(dev)))
        return None

    def remove(self, space: str, base: int, length: int | None = None, dev: Any = None) -> str | None:
        """``kvm__deregister_iotrap(base)`` (or ``ioport__unregister(port)``): the mapping
        holding ``base`` is erased, whoever owns it; ``length`` and ``dev`` are not
        parameters of the C API and are ignored. ``"false"`` (``"-ENOENT"`` for
        ``ioport__unregister``) when no mapping holds ``base``."""
        tree = self.native.mmio_tree if space == "mmio" else self.native.pio_tree
        victim = tree.rb_int_search_single(base & (U64_MAX if space == "mmio" else U16_MAX))
        if space == "mmio":
            r = None if self.native.kvm__deregister_mmio(base) else "false"
        elif self.v.pio_via_mmio:
            r = None if self.native.kvm__deregister_pio(base) else "false"
        else:
            rc = self.native.ioport__unregister(base)
            r = None if rc == 0 else _errno(rc)
        if r is None and isinstance(victim, Mapping):  # the PCI layer forgets the erased mapping's BAR
            for b in self.bars:
                if b.space == space and b.active and b.dev is victim.dev and b.base == victim.low:
                    self.bars.remove(b)
                    break
        return r

    def relocate(self, space: str, old_base: int, new_base: int, length: int, dev: Any) -> str | None:
        """A guest write of ``new_base`` to the BAR of ``dev`` at ``old_base``
        (``pci_config_bar_wr``, memory and I/O decoding enabled).

        The BAR is 32-bit: ``new_base`` is masked with ``PCI_BASE_ADDRESS_MEM_MASK``
        (``~0xf``) or ``_IO_MASK`` (``~0x3``) in ``u32``. Steps: deactivate the
        BAR (deregister at its address; failure: return), deactivate every
        other active BAR overlapping ``[new, new+size)`` in u32 arithmetic
        whatever its space (failure: re-activate this BAR, return), write the
        BAR, activate it (failure: re-activate the overlapping ones and return:
        the BAR stays unmapped at neither address), then re-activate BARs
        overlapping the old address. The C function is void; the adapter returns
        the failing step's code."""
        bar = None
        # the C names a BAR by its number; the facade by (device, address): a mapped BAR
        # first, then one a move unmapped (a device may hold both at one address)
        for b in sorted(self.bars, key=lambda x: not x.active):
            if b.space == space and b.dev is dev and b.base == old_base:
                bar = b
                break
        if bar is None:  # a BAR the adapter has not seen: inactive, at old_base
            bar = _Bar(dev, space, old_base, length, False, self._is_pci(dev))
            self.bars.append(bar)
        mask = PCI_BASE_ADDRESS_MEM_MASK if space == "mmio" else PCI_BASE_ADDRESS_IO_MASK
        old_addr = u32(bar.base)
        new_addr = u32(new_base) & mask
        bar_size = u32(bar.size)
        if bar.active:  # C: pci_deactivate_bar
            r = self._deactivate(space, bar.base)
            if r < 0:
                return _errno(r)
            bar.active = False
        r = self._toggle(False, new_addr, bar_size)
        if r < 0:
            if not bar.active and self._activate(space, bar.base, bar.size, dev) == 0:
                bar.active = True
            return _errno(r)
        bar.base = new_addr  # C: pci_hdr->bar[bar_num] = value
        r = self._activate(space, bar.base, bar.size, dev)
        if r < 0:
            self._toggle(True, new_addr, bar_size)
            return _errno(r)
        bar.active = True
        self._toggle(True, old_addr, bar_size)
        return None

    def _toggle(self, activate: bool, start: int, size: int) -> int:
        """``pci_toggle_bar_regions``: every PCI BAR overlapping ``[start, start+size)`` in u32."""
        for b in list(self.bars):
            if not b.pci:
                continue
            tmp_start, tmp_size = u32(b.base), u32(b.size)
            if u32(tmp_start + tmp_size) <= start or tmp_start >= u32(start + size):
                continue
            if activate:
                if b.active:
                    continue
                r = self._activate(b.space, b.base, b.size, b.dev)
                if r < 0:
                    return r
                b.active = True
            else:
                if not b.active:
                    continue
                r = self._deactivate(b.space, b.base)
                if r < 0:
                    return r
                b.active = False
        return 0

    def lookup(self, space: str, addr: int, width: int) -> Any:
        """mmio: ``kvm__emulate_mmio(addr, u32 width)``; pio: ``kvm__emulate_io(u16 port, int width, 1)``.
        The device whose handler runs, or None (the access is ignored)."""
        if space == "mmio":
            return self.native.kvm__emulate_mmio(addr, width)
        return self.native.kvm__emulate_io(addr, width)

    def ranges(self, space: str) -> list[tuple[int, int, Any]]:
        """In-order ``(low, high, dev)`` of the space's tree (``high`` exclusive, as stored)."""
        tree = self.native.mmio_tree if space == "mmio" else self.native.pio_tree
        return [(n.low, n.high, n.dev) for n in tree.nodes()]  # type: ignore[attr-defined]


__all__ = [
    "VERSIONS",
    "KvmtoolVersion",
    "Kvmtool",
    "KvmtoolBus",
    "IntervalTree",
    "Devices",
    "DeviceHeader",
    "ModelPanic",
    "U64_MAX",
]
