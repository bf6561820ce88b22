"""Extracting the I/O bus code from a kernel tree's C files, with tree-sitter.

Why a parser: the extract is the bus code *exactly as the tree has it*, cut at
definition boundaries (a function, a struct, an enum, a ``#define``), and the
closure of what the entry points use is computed on the syntax tree (calls,
type names, identifiers), never by matching text. tree-sitter's C grammar
tolerates kernel macros (``__rcu``, ``__always_inline``, ``EXPORT_SYMBOL``):
where it cannot make sense of a line it keeps an ``ERROR`` node and the
definitions around it still parse.

:func:`parse_file` indexes one file's top-level definitions; :func:`closure`
walks from the entry points through the sources in order (kvm_main.c first,
then the headers and lib/), collecting every function, type and macro a piece
uses that one of the sources defines. What no source defines must come from
the shim (checked by :mod:`.unit`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from iobus_verify.errors import UsageError


@lru_cache(maxsize=1)
def _parser():
    try:
        import tree_sitter_c
        from tree_sitter import Language, Parser
    except ImportError as exc:  # pragma: no cover - the extra is part of the test install
        raise UsageError(
            f"kernel trees need tree-sitter and its C grammar ({exc.name} is missing): pip install 'iobus-verify[kernel]'"
        ) from None
    return Parser(Language(tree_sitter_c.language()))


@dataclass(frozen=True)
class Piece:
    """One top-level definition cut from a source file.

    ``kind`` is ``function``, ``struct``, ``enum``, ``typedef`` or ``macro``;
    ``line`` is the 1-based line of its first byte (for ``#line``), ``text``
    the bytes as the file has them, ``uses`` the identifiers it references
    (calls, type names, plain identifiers) minus its own locals and parameters,
    ``calls`` the subset that are called.
    """

    name: str
    kind: str
    path: str  # relative to the tree
    line: int
    end_line: int
    text: str
    uses: frozenset[str] = field(default=frozenset(), repr=False)
    calls: frozenset[str] = field(default=frozenset(), repr=False)
    prototype: str = ""  # functions: the declaration to emit before any definition
    static: bool = False


@dataclass(frozen=True)
class SourceIndex:
    """The top-level definitions of one file, by name (first definition wins)."""

    path: str
    pieces: dict[str, Piece]
    tree: object = field(repr=False, compare=False, default=None)


def _text(node, src: bytes) -> str:
    return src[node.start_byte : node.end_byte].decode("utf-8", "replace")


def _declarator_name(node, src: bytes) -> str | None:
    """The identifier a (possibly nested) declarator declares."""
    while node is not None:
        if node.type in ("identifier", "field_identifier", "type_identifier"):
            return _text(node, src)
        nxt = node.child_by_field_name("declarator")
        if nxt is None:
            # parenthesized_declarator and friends keep the inner one as a plain child
            nxt = next((c for c in node.named_children if c.type.endswith("declarator") or c.type == "identifier"), None)
        node = nxt
    return None


def _function_declarator(node):
    d = node.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    return d


def _locals(fn, src: bytes) -> set[str]:
    """Parameter and local variable names of a function (so ``cmp(a, b)`` with a
    parameter ``cmp`` is not taken for a kernel API)."""
    names: set[str] = set()
    stack = [fn]
    while stack:
        n = stack.pop()
        if n.type in ("parameter_declaration", "declaration"):
            for d in n.children_by_field_name("declarator"):
                name = _declarator_name(d, src)
                if name:
                    names.add(name)
        stack.extend(n.named_children)
    return names


def _references(node, src: bytes) -> tuple[set[str], set[str]]:
    """(identifiers and type names used, names called) under ``node``."""
    uses: set[str] = set()
    calls: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        t = n.type
        if t in ("identifier", "type_identifier"):
            uses.add(_text(n, src))
        elif t in ("struct_specifier", "union_specifier", "enum_specifier"):
            name = n.child_by_field_name("name")
            if name is not None:
                uses.add(f"{t.split('_')[0]} {_text(name, src)}")
        elif t == "call_expression":
            f = n.child_by_field_name("function")
            if f is not None and f.type == "identifier":
                calls.add(_text(f, src))
        elif t in ("preproc_arg",):
            # a macro body is raw text to tree-sitter: parse it as an expression
            uses |= _words(_text(n, src))
        stack.extend(n.children)
    return uses, calls


def _words(text: str) -> set[str]:
    """Identifiers in a macro body, read with the C parser as an expression list."""
    tree = _parser().parse(("int __kbus_probe = (" + text + ");").encode())
    found: set[str] = set()
    stack = [tree.root_node]
    while stack:
        n = stack.pop()
        if n.type in ("identifier", "type_identifier"):
            found.add(n.text.decode())
        stack.extend(n.children)
    found.discard("__kbus_probe")
    return found


def _is_static(node, src: bytes) -> bool:
    return any(c.type == "storage_class_specifier" and _text(c, src) == "static" for c in node.children)


def parse_file(path: Path, rel: str) -> SourceIndex:
    """Index the top-level definitions of ``path`` (``rel``: its tree-relative name)."""
    src = path.read_bytes()
    tree = _parser().parse(src)
    pieces: dict[str, Piece] = {}

    def add(p: Piece) -> None:
        pieces.setdefault(p.name, p)

    def visit(node, depth: int) -> None:
        for child in node.children:
            t = child.type
            if t == "function_definition":
                fd = _function_declarator(child)
                name = _declarator_name(fd, src) if fd is not None else None
                if not name:
                    continue
                body = child.child_by_field_name("body")
                uses, calls = _references(child, src)
                local = _locals(child, src)
                head = src[child.start_byte : body.start_byte].decode("utf-8", "replace").rstrip() if body else ""
                add(
                    Piece(
                        name,
                        "function",
                        rel,
                        child.start_point[0] + 1,
                        child.end_point[0] + 1,
                        _text(child, src),
                        frozenset(uses - local - {name}),
                        frozenset(calls - local),
                        head + ";",
                        _is_static(child, src),
                    )
                )
            elif t in ("preproc_def", "preproc_function_def"):
                name = child.child_by_field_name("name")
                if name is None:
                    continue
                uses, _ = _references(child, src)
                nm = _text(name, src)
                add(Piece(nm, "macro", rel, child.start_point[0] + 1, child.end_point[0] + 1, _text(child, src).rstrip() + "\n", frozenset(uses - {nm})))
            elif t in ("struct_specifier", "union_specifier", "enum_specifier") or (
                t == "declaration" and any(c.type in ("struct_specifier", "union_specifier", "enum_specifier") for c in child.children)
            ):
                spec = child if t.endswith("_specifier") else next(c for c in child.children if c.type.endswith("_specifier") and c.type != "storage_class_specifier")
                if spec.child_by_field_name("body") is None:
                    continue
                name = spec.child_by_field_name("name")
                if name is None:
                    continue
                kw = spec.type.split("_")[0]
                key = f"{kw} {_text(name, src)}"
                uses, _ = _references(spec.child_by_field_name("body"), src)
                text = _text(child, src)
                if not text.rstrip().endswith(";"):
                    text += ";"
                members: set[str] = set()
                if kw == "enum":  # its enumerators are defined here too
                    for e in spec.child_by_field_name("body").named_children:
                        if e.type == "enumerator":
                            members.add(_text(e.child_by_field_name("name"), src))
                p = Piece(key, kw, rel, child.start_point[0] + 1, child.end_point[0] + 1, text, frozenset(uses - {key}))
                add(p)
                # A #define inside the body (2011's NR_IOBUS_DEVS sat inside
                # struct kvm_io_bus) defines a macro of its own too.
                for d in spec.child_by_field_name("body").named_children:
                    if d.type == "preproc_def" and d.child_by_field_name("name") is not None:
                        nm = _text(d.child_by_field_name("name"), src)
                        add(Piece(nm, "macro", rel, d.start_point[0] + 1, d.end_point[0] + 1, _text(d, src).rstrip() + "\n"))
                for m in members:
                    add(Piece(m, "alias", rel, p.line, p.end_line, "", frozenset({key})))
            elif t == "type_definition":
                name = None
                for d in child.children_by_field_name("declarator"):
                    name = _declarator_name(d, src)
                if name:
                    uses, _ = _references(child, src)
                    add(Piece(name, "typedef", rel, child.start_point[0] + 1, child.end_point[0] + 1, _text(child, src), frozenset(uses - {name})))
            elif t in ("preproc_ifdef", "preproc_if", "preproc_else", "preproc_elif", "ERROR", "linkage_specification", "declaration_list"):
                # Definitions inside #ifdef / #ifndef guards (headers) and inside
                # regions the grammar could not make sense of: first one wins.
                if depth < 8:
                    visit(child, depth + 1)

    visit(tree.root_node, 0)
    return SourceIndex(rel, pieces, tree)


@dataclass(frozen=True)
class Extract:
    """The pieces the entry points need, in an order that compiles: macros and
    types first (dependencies before dependants), then functions."""

    pieces: tuple[Piece, ...]
    unresolved: dict[str, str]  # name used but defined by no source -> first user

    def by_name(self, name: str) -> Piece | None:
        return next((p for p in self.pieces if p.name == name), None)

    @property
    def functions(self) -> tuple[Piece, ...]:
        return tuple(p for p in self.pieces if p.kind == "function")


def closure(sources: list[SourceIndex], entries: list[str], provided: frozenset[str], types: list[str] = ()) -> Extract:
    """Everything ``entries`` use that ``sources`` define, and what remains unresolved.

    ``entries``: functions; ``types``: types and macros the caller needs too.
    ``provided``: names the shim defines (types, macros, functions); a name the
    shim provides is never taken from a source (the shim replaces the kernel's
    ``struct kvm``, its locking and its allocators).
    """
    def find(name: str) -> Piece | None:
        for s in sources:
            p = s.pieces.get(name)
            if p is not None:
                return p
        return None

    seen: dict[str, Piece] = {}
    order: list[Piece] = []
    unresolved: dict[str, str] = {}
    calls_unresolved: dict[str, str] = {}

    def need(name: str, user: str, called: bool) -> None:
        if name in provided:
            return
        p = find(name)
        if p is None:
            if called:
                calls_unresolved.setdefault(name, user)
            unresolved.setdefault(name, user)
            return
        if p.kind == "alias":
            for u in p.uses:
                need(u, user, False)
            return
        if name in seen:
            return
        seen[name] = p
        for u in sorted(p.uses):
            need(u, p.name, u in p.calls)
        for c in sorted(p.calls - p.uses):
            need(c, p.name, True)
        order.append(p)  # post-order: what a piece uses comes before it

    for e in entries:
        need(e, "(entry)", True)
    for t in types:  # types and macros the caller needs; a missing one is the caller's to report
        need(t, "(entry)", False)
    # Functions after every non-function (prototypes cover the order among functions).
    types = [p for p in order if p.kind != "function"]
    funcs = [p for p in order if p.kind == "function"]
    return Extract(tuple(types + funcs), calls_unresolved)


def struct_fields(piece: Piece) -> dict[str, bool | None]:
    """Field name -> True (array with a size), False (flexible array ``[]``),
    None (not an array), read from the struct's syntax tree."""
    src = piece.text.encode()
    tree = _parser().parse(src)
    out: dict[str, bool | None] = {}
    stack = [tree.root_node]
    while stack:
        n = stack.pop()
        if n.type == "field_declaration":
            for d in n.children_by_field_name("declarator"):
                name = _declarator_name(d, src)
                node = d
                kind: bool | None = None
                while node is not None:
                    if node.type == "array_declarator":
                        kind = node.child_by_field_name("size") is not None
                        break
                    node = node.child_by_field_name("declarator")
                if name:
                    out.setdefault(name, kind)
            continue
        stack.extend(n.children)
    return out


def macro_value(piece: Piece) -> int | None:
    """The integer literal a ``#define NAME VALUE`` defines (None if it is not one)."""
    tree = _parser().parse(piece.text.encode())
    stack = [tree.root_node]
    while stack:
        n = stack.pop()
        if n.type == "preproc_def":
            value = n.child_by_field_name("value")
            if value is None:
                return None
            expr = _parser().parse(b"int __kbus_v = " + value.text.strip() + b";").root_node
            lits = []
            st = [expr]
            while st:
                m = st.pop()
                if m.type == "number_literal":
                    lits.append(m.text.decode())
                st.extend(m.children)
            if len(lits) == 1:
                try:
                    return int(lits[0].rstrip("uUlL"), 0)
                except ValueError:
                    return None
            return None
        stack.extend(n.children)
    return None


def function_signature(piece: Piece) -> tuple[str, list[str]]:
    """(return type text, parameter declaration texts) of a function piece."""
    tree = _parser().parse(piece.prototype.encode())
    stack = [tree.root_node]
    while stack:
        n = stack.pop()
        if n.type == "declaration":
            fd = _function_declarator(n)
            if fd is None:
                break
            params = fd.child_by_field_name("parameters")
            ptexts = [c.text.decode() for c in params.named_children if c.type == "parameter_declaration"] if params else []
            rtype = n.child_by_field_name("type")
            pointer = n.child_by_field_name("declarator").type == "pointer_declarator"
            return (rtype.text.decode() if rtype is not None else "int") + (" *" if pointer else ""), ptexts
        stack.extend(n.children)
    return "int", []
