"""One C translation unit from a kernel tree: the shim, the extract, the glue.

The unit is a C bus for the existing bridge (:mod:`iobus_verify.model.cbus`):
it implements ``iobus_bus.h`` with the tree's own ``kvm_io_bus_*`` functions
behind it, so the bridge's build (content-hash cache), wire and worker (crash
and hang isolation, per-op limit) run it like any ``c:`` bus.

Layout of the unit (each extracted piece preceded by ``#line N "its file"``,
so a compiler error points at the tree's file and line, which
:func:`explain_compile_error` maps back to the function it came from):

1. ``kernel/kshim.h``: types, allocators, locks, RCU/SRCU stand-ins;
2. the tree's macros and types the bus code uses (``NR_IOBUS_DEVS``,
   ``enum kvm_bus``, ``struct kvm_io_range``, ``struct kvm_io_bus``,
   ``struct kvm_io_device{,_ops}``), then the shim's late part (``struct kvm``,
   ``struct kvm_vcpu``, which need ``KVM_NR_BUSES``);
3. ``NR_IOBUS_DEVS`` made a run-time value (the suite runs some searches at a
   small capacity; a fixed array keeps its compiled size and refuses more);
4. prototypes, then the tree's functions (the bus code, the ``kvm_iodevice_*``
   helpers, ``sort()``, ``bsearch()``);
5. the glue (this project's code): devices as ``struct kvm_io_device`` whose
   ops call the suite's devices, the ``ioeventfd_count`` bookkeeping that
   eventfd.c does around the bus calls, and the ABI functions.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from iobus_verify.errors import UsageError
from iobus_verify.model.kernel.extract import Extract, Piece, function_signature, parse_file, struct_fields

SHIM = Path(__file__).resolve().parent / "kshim.h"
#: The functions the glue calls; everything else is what they use.
ENTRIES = ("kvm_io_bus_register_dev", "kvm_io_bus_unregister_dev", "kvm_io_bus_write", "kvm_io_bus_read")
#: Functions the glue calls when the tree has them (``kvm_io_bus_destroy``:
#: the VM teardown's destructor loop, behind ``iobus_teardown``).
OPTIONAL_ENTRIES = ("kvm_io_bus_destroy",)
#: The types the glue itself needs from the tree.
GLUE_TYPES = ("NR_IOBUS_DEVS", "enum kvm_bus", "struct kvm_io_bus", "struct kvm_io_range", "struct kvm_io_device_ops", "struct kvm_io_device")
#: The shim renames these (kernel sort/bsearch, not the C library's): they are
#: taken from the tree, not provided.
RENAMED = frozenset({"sort", "sort_r", "sort_nonatomic", "bsearch"})
#: What the C library gives the unit (string.h, stdlib.h) and C keywords the
#: grammar reads as names.
LIBC = frozenset({"memcpy", "memmove", "memset", "memcmp", "malloc", "calloc", "free", "abort", "sizeof", "offsetof", "__builtin_expect", "__builtin_trap", "typeof", "__typeof__", "NULL", "true", "false", "bool", "size_t", "uintptr_t", "uint64_t", "int64_t", "uint32_t", "int32_t", "uint16_t", "uint8_t"})
#: Flags the unit needs on top of the bridge's: a call to an undeclared
#: function is an error (not C89's implicit int), and an undefined symbol fails
#: the link instead of the worker's dlopen.
UNIT_FLAGS = ("-Werror=implicit-function-declaration", "-Wno-unused-function", "-Wl,-z,defs")


@dataclass(frozen=True)
class Unit:
    """A generated unit and where each extracted piece landed."""

    text: str
    pieces: tuple[Piece, ...]
    era: str
    reason: str


def shim_provides() -> frozenset[str]:
    """Names kshim.h defines (macros, types, functions), read with the same parser."""
    idx = parse_file(SHIM, "kshim.h")
    names = set(idx.pieces) - RENAMED
    return frozenset(names | LIBC)


def missing_api(extract: Extract) -> tuple[str, str] | None:
    """(symbol, the function that calls it) for the first call the shim and the tree leave undefined."""
    for name, user in sorted(extract.unresolved.items(), key=lambda kv: kv[0]):
        if name.startswith("__builtin_"):
            continue
        return name, user
    return None


def _c_string(s: str) -> str:
    return json.dumps(s)  # a C string literal for ASCII text


def build_unit(spec: str, tree_root: Path, extract: Extract, era: str, reason: str, summary: str) -> Unit:
    """The unit's text (see the module docstring)."""
    bus = extract.by_name("struct kvm_io_bus")
    ops = extract.by_name("struct kvm_io_device_ops")
    for need in GLUE_TYPES:
        if extract.by_name(need) is None:
            raise UsageError(f"bus {spec!r}: the tree defines no {need} (looked in kvm_host.h, iodev.h, kvm_main.c); is it a KVM tree?")
    for entry in ENTRIES:
        if extract.by_name(entry) is None:
            raise UsageError(f"bus {spec!r}: virt/kvm/kvm_main.c defines no {entry}(); the tree predates the I/O bus API the suite drives")
    fields = struct_fields(bus)
    ops_fields = struct_fields(ops)
    fixed = bool(fields.get("range"))
    _, write_params = function_signature(extract.by_name("kvm_io_bus_write"))
    first_is_vcpu = bool(write_params) and "kvm_vcpu" in write_params[0]
    ops_vcpu = "struct kvm_vcpu" in ops.uses
    unreg_rtype, _ = function_signature(extract.by_name("kvm_io_bus_unregister_dev"))
    has_destroy = extract.by_name("kvm_io_bus_destroy") is not None
    lines: list[str] = []

    def emit(text: str) -> None:
        lines.extend(text.split("\n"))

    def here(name: str = "kbus-glue") -> None:
        lines.append(f'#line {len(lines) + 2} "{name}.c"')

    emit(f"/* generated by iobus-verify from the kernel tree {tree_root} ({reason}) */")
    emit('#include "kernel/kshim.h"')
    emit("#include <stdio.h>")
    types = [p for p in extract.pieces if p.kind != "function"]
    funcs = [p for p in extract.pieces if p.kind == "function"]
    for p in types:
        emit(f'#line {p.line} "{tree_root / p.path}"')
        emit(p.text)
    here()
    emit("#define KBUS_SHIM_LATE")
    emit('#include "kernel/kshim.h"')
    emit(
        "enum { KBUS_NR_COMPILED = NR_IOBUS_DEVS };\n"
        "static int kbus_nr_iobus_devs = NR_IOBUS_DEVS;\n"
        "#undef NR_IOBUS_DEVS\n"
        "#define NR_IOBUS_DEVS kbus_nr_iobus_devs"
    )
    for p in funcs:
        emit(f'#line {p.line} "{tree_root / p.path}"')
        emit(p.prototype)
    for p in funcs:
        emit(f'#line {p.line} "{tree_root / p.path}"')
        emit(p.text)
    here()
    params_io = "struct kvm_vcpu *vcpu, struct kvm_io_device *this" if ops_vcpu else "struct kvm_io_device *this"
    first = "&kbus_vcpu" if first_is_vcpu else "&kbus_kvm"
    emit(
        _GLUE.format(
            params=params_io,
            first=first,
            fixed=int(fixed),
            ioeventfd=int("ioeventfd_count" in fields),
            unreg_void=int(unreg_rtype.strip() == "void"),
            has_destroy=int(has_destroy),
            destructor=".destructor = kbus_dev_destructor," if "destructor" in ops_fields else "",
            era=_c_string(era),
            summary=_c_string(summary),
        )
    )
    return Unit("\n".join(lines) + "\n", extract.pieces, era, reason)


# The glue: this project's code. Braces doubled for str.format.
_GLUE = """
const struct iobus_host *kbus_host;
const char *kbus_op = "create";
static char kbus_site[64];

/* Every allocation of the tree's code asks the suite's hook, as "<op>:<allocator>". */
void *kbus_alloc(const char *allocator, size_t size, int zero)
{{
	snprintf(kbus_site, sizeof kbus_site, "%s:%s", kbus_op, allocator);
	return zero ? iobus_zalloc(kbus_host, kbus_site, size) : iobus_malloc(kbus_host, kbus_site, size);
}}

/* The tree's RCU/SRCU steps (kshim.h's rcu_assign_pointer, synchronize_*,
 * call_srcu) reach the suite's lifetime ledger. */
const int iobus_srcu_events = 1;
void kbus_srcu_event(const char *what)
{{
	iobus_srcu_event(kbus_host, what);
}}

/* A suite device as the tree sees it: a struct kvm_io_device whose ops call back. */
struct kbus_dev {{
	struct kvm_io_device dev;
	iobus_dev_t handle;
	int counted; /* an ioeventfd counted in ioeventfd_count (eventfd.c's bookkeeping) */
	struct kbus_dev *next;
}};
static struct kbus_dev *kbus_devs;

static iobus_dev_t kbus_handle(struct kvm_io_device *dev)
{{
	return dev ? container_of(dev, struct kbus_dev, dev)->handle : NULL;
}}

static int kbus_dev_read({params}, gpa_t addr, int len, void *val)
{{
	return iobus_dev_read(kbus_host, kbus_handle(this), addr, len, val);
}}

static int kbus_dev_write({params}, gpa_t addr, int len, const void *val)
{{
	return iobus_dev_write(kbus_host, kbus_handle(this), addr, len, val);
}}

static void kbus_dev_destructor(struct kvm_io_device *this)
{{
	iobus_dev_destructor(kbus_host, kbus_handle(this));
}}

static const struct kvm_io_device_ops kbus_ops = {{
	.read = kbus_dev_read,
	.write = kbus_dev_write,
	{destructor}
}};

static struct kbus_dev *kbus_wrap(iobus_dev_t handle)
{{
	struct kbus_dev *d;
	for (d = kbus_devs; d; d = d->next)
		if (d->handle == handle)
			return d;
	d = calloc(1, sizeof(*d)); /* the suite's device, not an allocation of the bus code */
	if (!d)
		abort();
	d->dev.ops = &kbus_ops;
	d->handle = handle;
	d->next = kbus_devs;
	kbus_devs = d;
	return d;
}}

static struct kvm kbus_kvm;
static struct kvm_vcpu kbus_vcpu;
struct iobus_bus {{
	int unused;
}};
static struct iobus_bus kbus_the_bus;

#define KBUS_FIXED_ARRAY {fixed}
#define KBUS_IOEVENTFD_COUNT {ioeventfd}
#define KBUS_UNREGISTER_VOID {unreg_void}

const int iobus_capacity = KBUS_NR_COMPILED;
const char iobus_era[] = {era};
const char iobus_summary[] = {summary};

struct iobus_bus *iobus_create(int capacity, const struct iobus_host *host)
{{
	int i;
	kbus_host = host;
	if (capacity < 0 || (KBUS_FIXED_ARRAY && capacity > KBUS_NR_COMPILED))
		return NULL; /* a fixed range[NR_IOBUS_DEVS] cannot hold more */
	kbus_nr_iobus_devs = capacity;
	kbus_vcpu.kvm = &kbus_kvm;
	kbus_kvm.users_count.refs = 1;
	/* kvm_create_vm(): one zeroed bus per index */
	for (i = 0; i < KVM_NR_BUSES; i++) {{
		kbus_kvm.buses[i] = calloc(1, sizeof(struct kvm_io_bus));
		if (!kbus_kvm.buses[i])
			return NULL;
	}}
	return &kbus_the_bus;
}}

void iobus_destroy(struct iobus_bus *b)
{{
	/* The worker's child exits right after: nothing to free, and no destructor
	 * runs (kvm_destroy_vm's teardown is not a bus operation the suite compares). */
	(void)b;
}}

#define KBUS_HAS_DESTROY {has_destroy}
#if KBUS_HAS_DESTROY
/* kvm_destroy_vm(): for each bus, kvm_io_bus_destroy(kvm_get_bus(kvm, i)), then
 * the pointer cleared; the glue drives one bus index, a bus an unregister
 * dropped (NULL) has nothing, and the pointer is cleared first so that no
 * later ranges() reads the freed bus. */
void iobus_teardown(struct iobus_bus *b)
{{
	struct kvm_io_bus *bus = kbus_kvm.buses[KVM_MMIO_BUS];
	(void)b;
	kbus_op = "teardown";
	kbus_kvm.buses[KVM_MMIO_BUS] = NULL;
	if (bus)
		kvm_io_bus_destroy(bus);
}}
#endif

int iobus_register(struct iobus_bus *b, uint64_t addr, int len, iobus_dev_t dev)
{{
	struct kbus_dev *d = kbus_wrap(dev);
	int r;
	kbus_op = "register";
	r = kvm_io_bus_register_dev(&kbus_kvm, KVM_MMIO_BUS, addr, len, &d->dev);
#if KBUS_IOEVENTFD_COUNT
	/* kvm_assign_ioeventfd_idx(): count it after a successful registration */
	if (r == 0 && iobus_dev_is_ioeventfd(kbus_host, dev) && kbus_kvm.buses[KVM_MMIO_BUS]) {{
		kbus_kvm.buses[KVM_MMIO_BUS]->ioeventfd_count++;
		d->counted++;
	}}
#endif
	return r;
}}

int iobus_unregister(struct iobus_bus *b, iobus_dev_t dev)
{{
	struct kbus_dev *d = kbus_wrap(dev);
	int r = 0;
	kbus_op = "unregister";
#if KBUS_UNREGISTER_VOID
	kvm_io_bus_unregister_dev(&kbus_kvm, KVM_MMIO_BUS, &d->dev);
#else
	r = kvm_io_bus_unregister_dev(&kbus_kvm, KVM_MMIO_BUS, &d->dev);
#endif
#if KBUS_IOEVENTFD_COUNT
	/* kvm_deassign_ioeventfd_idx(): uncount it if the bus still exists */
	if (d->counted) {{
		d->counted--;
		if (kbus_kvm.buses[KVM_MMIO_BUS])
			kbus_kvm.buses[KVM_MMIO_BUS]->ioeventfd_count--;
	}}
#endif
	return r;
}}

int iobus_write(struct iobus_bus *b, uint64_t addr, int len, const void *val)
{{
	kbus_op = "write";
	return kvm_io_bus_write({first}, KVM_MMIO_BUS, addr, len, val);
}}

int iobus_read(struct iobus_bus *b, uint64_t addr, int len, void *val)
{{
	kbus_op = "read";
	return kvm_io_bus_read({first}, KVM_MMIO_BUS, addr, len, val);
}}

int iobus_ranges(struct iobus_bus *b, struct iobus_range *out, int max)
{{
	struct kvm_io_bus *bus = kbus_kvm.buses[KVM_MMIO_BUS];
	int i;
	if (!bus)
		return 0;
	for (i = 0; i < bus->dev_count && i < max; i++) {{
		out[i].addr = bus->range[i].addr;
		out[i].len = bus->range[i].len;
		out[i].dev = kbus_handle(bus->range[i].dev);
	}}
	return bus->dev_count;
}}
"""


_DIAG = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?:(?P<col>\d+):)? (?:fatal )?error: (?P<msg>.*)$", re.M)
_IMPLICIT = re.compile(r"implicit declaration of function [‘'`\"](?P<name>\w+)")
_UNDEF_REF = re.compile(r"undefined reference to [‘'`\"](?P<name>\w+)")


def explain_compile_error(spec: str, tree_root: Path, pieces: tuple[Piece, ...], output: str) -> str:
    """One line from the compiler's output (of C the unit holds, not C parsing):
    the first error, the tree file and line, and the function it came from."""
    undef = _UNDEF_REF.search(output)
    m = _DIAG.search(output)
    if m is None and undef is not None:
        return f"bus {spec!r}: kernel API {undef['name']} is not in the shim (model/kernel/kshim.h): the link left it undefined; add it there"
    if m is None:
        first = next((ln for ln in output.splitlines() if ln.strip()), "(no output)")
        return f"bus {spec!r}: the tree's bus code does not compile against the shim: {first.strip()}"
    file, line, msg = m["file"], int(m["line"]), m["msg"].strip()
    where = file
    owner = None
    try:
        rel = str(Path(file).resolve().relative_to(tree_root))
        where = rel
        owner = next((p for p in pieces if p.path == rel and p.line <= line <= p.end_line), None)
    except ValueError:
        pass
    within = f" (in {owner.kind} {owner.name})" if owner is not None else ""
    imp = _IMPLICIT.search(msg)
    if imp is not None:
        return (
            f"bus {spec!r}: kernel API {imp['name']} is not in the shim (model/kernel/kshim.h): "
            f"{where}:{line}{within} calls it; add it there"
        )
    return f"bus {spec!r}: the tree's bus code does not compile against the shim: {where}:{line}: error: {msg}{within}"


def unit_path(cache_root: Path, tree_root: Path, text: str) -> Path:
    """Where the unit is written: named after the tree, keyed by its content."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in tree_root.name) or "tree"
    return cache_root / "kernel" / f"{safe}-{digest}.c"
