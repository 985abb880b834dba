"""Drawings from a loaded snapshot: Snapshot.show_chain, show_explain(filename=),
show_backrefs, show_refs and render(), the same pictures as live.

The live drawing code (refchain._render) draws them.  What it reads of the
objects it draws, it reads through a view: _render._LiveView on the live
heap, SnapView here on the file's SnapNodes (type and value lines, size,
refcount, allocation line and traceback, edge labels).  A chain or group
tells _render which by its ._snap, as the text formatters are told.

What the file cannot say is left out rather than guessed: a user object's
repr() (the file has none; objects show `Class@0x... (N attrs)`), the
referent of a weak reference (the graph holds strong references only, so
no dashed edges), and a value the dump did not write (values=False,
redact=True)."""

import weakref

from refchain import _format, _render
from refchain._explain import Group, Groups
from refchain._node import SnapNode
from refchain._sites import frames_lines, site_of_frames

# refchain/graph.h's node and type flags.
_NODE_TYPE, _NODE_MODULE = 1 << 2, 1 << 5
_TYPE_HEAP, _TYPE_COLLECTION, _TYPE_DICT = 1 << 0, 1 << 1, 1 << 2
# The exact built-in containers whose drawings say "N items": every
# reference of a list, tuple, set or frozenset is an item; a dict's are its
# values and (labelled so) its keys.
_SIZED = ("list", "tuple", "set", "frozenset")
_KEY_LABEL = "key of dict"
# Built-in scalars whose file value is their repr() (refchain/capture.h's
# rc_short_value), and the singletons that have none.
_REPR_IS_VALUE = ("int", "float", "bool", "NoneType")
# A str value this long may have been cut (capture.h's RC_SHORT_VALUE_MAX
# bytes, less a character's continuation bytes).
_CUT_AT = 64 - 3
_SINGLETONS = {"ellipsis": "Ellipsis", "NotImplementedType": "NotImplemented"}


class SnapView:
    """_render._LiveView's questions, answered from a snapshot's file."""

    __slots__ = ("_snap", "_class_names", "__weakref__")

    def __init__(self, snap):
        self._snap = snap
        self._class_names = None     # type object's address -> its name

    # -- the node's lines ---------------------------------------------------------

    def refcounts(self, nodes):
        # As live: the recorded count less the references of the tool's
        # own frames (the walk of depth 0 asks nothing else).
        return list(self._snap._c.hood(tuple(n.id for n in nodes), False, 0, 1, 1)[4])

    def type_line(self, node, shortnames):
        return _format.name(node.tname if shortnames else node.typename)

    def tname(self, node):
        return _format.name(node.tname)

    def same_type(self, a, b):
        return a.typename == b.typename

    def namespace(self, node):
        return bool(node.flags & (_NODE_MODULE | _NODE_TYPE))

    def size(self, node):
        return node.size

    def site(self, node):
        return site_of_frames(node.frames())

    def class_name(self, node):
        return _format.name(node.typename)

    def address(self, node):
        return node.address

    def traceback(self, node, max_frames):
        if not self._snap.traced:
            return ["(no allocation traceback: tracemalloc was off at the dump)"]
        return frames_lines(node.frames(), max_frames)

    def repr_line(self, node, use_repr):
        """_render._safe_repr() of what the file recorded (use_repr cannot
        apply: the file holds no objects to call repr() on)."""
        name, value = node.typename, node.value
        if value is not None:
            if name in _REPR_IS_VALUE:
                return _render._short(value.decode("ascii", "replace"))
            if name == "str":
                text = value.decode("utf-8", "replace")
                shown = _render._short(str.__repr__(text[:_render._REPR_MAX + 1]))
                if len(value) >= _CUT_AT and len(text) <= _render._REPR_MAX:
                    # The file's value may be a prefix (RC_SHORT_VALUE_MAX
                    # bytes): say so, as a cut repr reads live.
                    shown = shown[:-1] + _render._ELLIPSIS
                return shown
            if name == "bytes":
                return _render._short(bytes.__repr__(value[:_render._REPR_MAX + 1]))
        if name in _SINGLETONS:
            return _SINGLETONS[name]
        if name in _SIZED or name == "dict":
            return _items(self._items(node))
        if name == "frame" and node._root is not None:
            return _render._short(self._frame_where(node))
        if node.flags & _NODE_MODULE:
            return _render._short(self._module_name(node) or "")
        if node.flags & _NODE_TYPE:
            return _render._short(self._class_name_of(node))
        if node.type_flags & _TYPE_HEAP:
            text = "%s@0x%x" % (_format.name(node.tname), node.address)
            if node.type_flags & _TYPE_COLLECTION:
                return "%s (%d items)" % (text, self._items(node))
            n = self._attrs(node)
            return "%s (%d attr%s)" % (text, n, "" if n == 1 else "s")
        return ""

    # -- references ---------------------------------------------------------------

    def edge_label(self, src, dst, index):
        label = self._snap._c.label(src.id, index) if index >= 0 else None
        return "" if label is None or label.startswith("<referent") else _format.name(label)

    def weak_edges(self, d, backwards, too_many, max_nodes):
        """None: a snapshot's graph holds no weak references."""

    # -- reading the file's neighbours -----------------------------------------------

    def _out(self, node):
        return self._snap._c.out(node.id)

    def _items(self, node):
        out = self._out(node)
        if node.type_flags & _TYPE_DICT:
            return sum(1 for _, label in out if label != _KEY_LABEL)
        return len(out)

    def _attrs(self, node):
        """Its attributes, as live counts them: its references but its type,
        a __dict__'s items instead of the __dict__."""
        n = 0
        for target, label in self._out(node):
            if label == ".__class__":
                continue
            if label == ".__dict__":
                n += self._items(self._snap._node(target))
            else:
                n += 1
        return n

    def _module_name(self, node):
        for target, label in self._out(node):
            if label == ".__dict__":
                for name, key in self._out(self._snap._node(target)):
                    if key == "['__name__']":
                        value = self._snap._node(name).value
                        return None if value is None else value.decode("utf-8", "replace")
        return None

    def _frame_where(self, node):
        """'f() at file:line' of a frame the dump described as a root (its
        description reads 'frame f() at file:line in thread T'); the file
        has no line numbers of other frames."""
        text = self._snap._c.root(node._root)[2] or ""
        if not text.startswith("frame "):
            return ""
        where, sep, _ = text[len("frame "):].rpartition(" in thread ")
        return where if sep else text[len("frame "):]

    def _class_name_of(self, node):
        """A class object's name: the type table's entry at its address."""
        if self._class_names is None:
            self._class_names = {addr: name for addr, name, _ in self._snap._c.types()}
        return _format.name(self._class_names.get(node.address, ""))


def _items(n):
    return "%d item%s" % (n, "" if n == 1 else "s")


class Drawings:
    """The drawings of a Snapshot (a base class of refchain.Snapshot)."""

    __slots__ = ()

    def _drawing_view(self):
        """The SnapView of this snapshot (one while any drawing holds it, so
        drawings can tell views apart by identity).  Kept weakly: the view
        refers to the snapshot."""
        ref = getattr(self, "_view", None)
        view = ref() if ref is not None else None
        if view is None:
            view = SnapView(self)
            self._view = weakref.ref(view)
        return view

    def _nodes_of(self, objs, func):
        """The SnapNodes objs names: addresses or SnapNodes of this snapshot."""
        _render._check_objs(objs, func)
        nodes = []
        for obj in objs:
            if isinstance(obj, SnapNode):
                if obj._snap is not self:
                    raise ValueError("%s(): %r is an object of another snapshot" % (func, obj))
                nodes.append(obj)
            else:
                nodes.append(self.node(obj))
        return nodes

    def _chain_of(self, what, func):
        if getattr(what, "_snap", None) is self:
            return what
        if getattr(what, "_snap", None) is not None:
            raise ValueError("%s(): this chain is another snapshot's" % func)
        if isinstance(what, SnapNode) or (isinstance(what, int) and not isinstance(what, bool)):
            return self.find_chain(what)
        raise TypeError("%s() takes chains (Snapshot.find_chain's answer), addresses or "
                        "SnapNodes of this snapshot, not %s" % (func, type(what).__name__))

    def _groups_of(self, what, limit, func):
        if isinstance(what, str):
            return self.explain(what, limit)
        if isinstance(what, Group):
            what = [what]
        if isinstance(what, (list, tuple)) and what and all(isinstance(g, Group) for g in what):
            if any(getattr(g.chain, "_snap", None) is not self for g in what):
                raise ValueError("%s(): these groups are not all this snapshot's" % func)
            return what if isinstance(what, Groups) else list(what)
        raise TypeError("%s() takes a type name or this snapshot's Groups, not %s"
                        % (func, type(what).__name__))

    def _hood(self, objs, backwards, max_depth, too_many, max_nodes, func):
        nodes = self._nodes_of(objs, func)
        max_depth = _render._check_int(max_depth, "max_depth", func, 0)
        too_many = _render._check_int(too_many, "too_many", func, 1)
        max_nodes = _render._check_int(max_nodes, "max_nodes", func, 1)
        ids, seen = [], set()
        for n in nodes:
            if n.id not in seen:
                seen.add(n.id)
                ids.append(n.id)
        raw = self._c.hood(tuple(ids), backwards, max_depth, too_many, max_nodes)
        answer = ([self._node(i) for i in raw[0]],) + tuple(raw[1:])
        d = _render._Drawing(False, self._drawing_view())
        d.look = _render._Look(func=func)
        _render._draw_hood(d, answer, len(ids), backwards, max_depth, too_many, max_nodes)
        return d

    def _chains_drawing(self, chains, max_nodes, func):
        max_nodes = _render._check_int(max_nodes, "max_nodes", func, 1)
        d = _render._Drawing(False, self._drawing_view())
        d.look = _render._Look(func=func)
        for c in chains:
            _render._draw_chain(d, self._chain_of(c, func), max_nodes)
        return d

    # -- the public calls -----------------------------------------------------------

    def show_chain(self, *chains, filename=None, max_nodes=_render.MAX_NODES):
        """Draw chains of this snapshot into one picture, into `filename`
        (its extension picks the format: .svg, .png, .pdf, .dot, ...), or a
        new SVG file in the temporary directory.  Each chain is a SnapChain
        (find_chain's answer), or an address or SnapNode, drawn as
        find_chain() of it.  Returns the path written."""
        path, fmt = _render._target(filename, "show_chain")
        d = self._chains_drawing(chains, max_nodes, "show_chain")
        return _render._deliver(d, path, fmt, None, "chain")

    def _show_explain_drawing(self, what, limit, filename):
        """show_explain(..., filename=...): the groups as one collapsed graph."""
        path = _render._target(filename, "show_explain")[0]
        return _render.show_groups(self._groups_of(what, limit, "show_explain"), path)

    def show_dominators(self, obj, filename=None, *, depth=3, width=8):
        """Draw the dominator subtree of `obj` (an address or SnapNode of
        this snapshot) as refchain.show_dominators() draws the live heap:
        what only obj kept alive, each object under the one that alone kept
        it, with what each retains; `width` largest children per node, the
        rest summed up, `depth` levels.  Returns the path written."""
        path, fmt = _render._target(filename, "show_dominators")
        depth = _render._check_int(depth, "depth", "show_dominators", 0)
        width = _render._check_int(width, "width", "show_dominators", 1)
        node = self._nodes_of([obj], "show_dominators")[0]
        tree = [(None if i is None else self._node(i),) + tuple(rest)
                for i, *rest in self._c.dominator_tree(node.id, depth, width)]
        d = _render._Drawing(False, self._drawing_view())
        d.look = _render._Look(func="show_dominators")
        _render._draw_dominators(d, tree, _format.name(node.tname))
        return _render._output(d.render(fmt), path, "dominators")

    def show_backrefs(self, objs, max_depth=3, too_many=10, filename=None, *,
                      max_nodes=_render.MAX_NODES):
        """Draw what refers to each object of `objs` (a list of addresses or
        SnapNodes of this snapshot), up to max_depth references away, as
        refchain.show_backrefs() draws the live heap, into `filename` (or a
        new temporary SVG).  Returns the path written."""
        path, fmt = _render._target(filename, "show_backrefs")
        d = self._hood(objs, True, max_depth, too_many, max_nodes, "show_backrefs")
        return _render._deliver(d, path, fmt, None, "backrefs")

    def show_refs(self, objs, max_depth=3, too_many=10, filename=None, *,
                  max_nodes=_render.MAX_NODES):
        """Draw what each object of `objs` refers to, up to max_depth
        references away; otherwise like show_backrefs()."""
        path, fmt = _render._target(filename, "show_refs")
        d = self._hood(objs, False, max_depth, too_many, max_nodes, "show_refs")
        return _render._deliver(d, path, fmt, None, "refs")

    def render(self, what, format="svg", *, refs=False, max_depth=3, too_many=10,
               max_nodes=_render.MAX_NODES):
        """Draw `what` and return the bytes of the picture, as
        refchain.render() does: a SnapChain, a Group or a list of Groups
        (explain's answer), or a list of addresses or SnapNodes (their
        referrers, or with refs=True their references).  `format` is 'svg',
        'png', 'pdf' or 'dot' ('gv')."""
        fmt = _render._check_format(format, "render")
        max_nodes = _render._check_int(max_nodes, "max_nodes", "render", 1)
        if getattr(what, "_snap", None) is not None:
            d = self._chains_drawing([what], max_nodes, "render")
        elif isinstance(what, Group) or (isinstance(what, (list, tuple)) and what
                                         and all(isinstance(g, Group) for g in what)):
            d = _render._groups_drawing(self._groups_of(what, 0, "render"), False, max_nodes)
        elif isinstance(what, (list, tuple)):
            d = self._hood(what, not refs, max_depth, too_many, max_nodes, "render")
        else:
            raise TypeError("render() needs a SnapChain, a Group, a list of Groups or a list "
                            "of addresses or SnapNodes, not %s (for one object, pass [it])"
                            % type(what).__name__)
        return d.render(fmt)
