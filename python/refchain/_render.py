"""Drawing chains, grouped leaks and reference graphs with Graphviz, in
process: show_chain, show_backrefs, show_refs, and the pictures behind
render() (refchain/_wrap.py), show_explain(filename=...) and the
_repr_svg_ of Chain and Group.  It draws what the reports hand it and
imports none of them.

This module decides what is drawn: which objects, what each node and edge
says and what kind of node it is.  The C side does the rest: one capture
answers which objects and references (_refchain._neighbourhood), and
render/ lays the graph out and renders it (_refchain._render), with no
subprocess and no temporary file.

Labels are built without running user code: built-in values show a short
repr; instances of user classes show `Class@0x...` and their attribute
count, unless repr=True asks for their repr().  Edge labels come from
refchain._chains, which reads objects only through trusted C machinery."""

import gc
import os
import sys
import types
import weakref

from refchain import _chains, _refchain, _safe
from refchain._args import check_target
from refchain._format import human_bytes, name as _format_name, positional, short
from refchain._sites import display_path as _display_path, site_of, traceback_lines

# File extension -> format: what the in-process Graphviz of Debian 12 writes
# (objgraph hands any extension to `dot -T`; its webp plugin cannot be
# loaded in process, so webp is not offered).
FORMATS = {"dot": "dot", "gv": "dot", "pdf": "pdf", "png": "png", "svg": "svg",
           "jpg": "jpg", "jpeg": "jpg", "gif": "gif", "bmp": "bmp", "tif": "tif",
           "tiff": "tif", "ps": "ps", "eps": "eps", "json": "json", "xdot": "xdot",
           "plain": "plain"}
# Formats that are text; the rest are images ("Image generated as ...").
_TEXT_FORMATS = ("dot", "json", "xdot", "plain")
# objgraph's highlight=: a blue node.
_HIGHLIGHT = (("fillcolor", "#cfe0ff"), ("color", "#1f4fbf"))
MAX_NODES = 200

_REPR_MAX = 60      # characters of the repr line of a node
_TITLE_LINE_MAX = 200
_TIP_FRAMES = 30    # allocation frames in a tooltip
_ELLIPSIS = "\u2026"

# A root's kind, in the words its node shows.
_ROOT_WORDS = {"module": "root: a module", "class": "root: a class",
               "cache": "root: an lru_cache", "frame": "root: a running frame",
               "c": "root: held by C code", "immortal": "root: immortal"}
# CPython 3.11 gives its static objects (small ints, ...) a refcount near 10**9.
_STATIC_REFCOUNT = 1 << 28

# Exact built-in types whose repr() is C code and short once sliced.  Types
# are compared by identity: `tp in _SCALARS` or a dict keyed by types would
# call a metaclass's __eq__ or __hash__.
_SCALARS = (int, float, complex, bool, type(None), type(Ellipsis), type(NotImplemented))
_SIZED = ((dict, dict.__len__), (list, list.__len__), (tuple, tuple.__len__),
          (set, set.__len__), (frozenset, frozenset.__len__), (bytearray, bytearray.__len__))


def _sized_len(tp):
    """The len() of exactly this built-in container type, or None."""
    for base, length in _SIZED:
        if tp is base:
            return length
    return None

def _short(text, limit=_REPR_MAX):
    return short(text, limit)


# ---- checking arguments ------------------------------------------------------------


def _check_int(value, name, func, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s() argument '%s' must be int, not %s"
                        % (func, name, type(value).__name__))
    if value < minimum:
        raise ValueError("%s() argument '%s' must be >= %d, got %d"
                         % (func, name, minimum, value))
    return min(value, sys.maxsize)     # more than C can count: no limit


def _check_objs(objs, func):
    if not isinstance(objs, (list, tuple)):
        raise TypeError("%s() argument 'objs' must be a list of objects, not %s "
                        "(for one object, pass [obj])" % (func, type(objs).__name__))


def _check_callable(value, name, func):
    if value is not None and not callable(value):
        raise TypeError("%s() argument '%s' must be callable or None, not %s"
                        % (func, name, type(value).__name__))


def _check_format(format, func):
    if not isinstance(format, str) or format.lower() not in FORMATS:
        raise ValueError("%s(): unknown format %r: use one of %s"
                         % (func, format, ", ".join(sorted(FORMATS))))
    return FORMATS[format.lower()]


def format_of(filename):
    """The output format a file name asks for, by its extension."""
    ext = os.path.splitext(filename)[1].lower().lstrip(".")
    fmt = FORMATS.get(ext)
    if fmt is None:
        raise ValueError("cannot tell the format of %r from its extension: use one of %s"
                         % (filename, ", ".join("." + e for e in sorted(FORMATS))))
    return fmt


# ---- writing files ---------------------------------------------------------------------


def write_file(path, data):
    """Write data to path completely or not at all: into a new file in the
    same directory, then renamed over path.  On failure the temporary file
    is removed and the OSError propagates.  What is at path must be a
    regular file or nothing (refchain._args.check_target)."""
    check_target(path, "refchain")
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(directory, ".%s.%s.tmp" % (base, os.urandom(6).hex()))
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies, as for open()
        except FileExistsError:
            continue
        except OSError as e:
            # Name the file asked for, not the temporary one.
            raise type(e)(e.errno, e.strerror, path) from None
        break
    else:  # pragma: no cover
        raise FileExistsError("could not create a temporary file next to %r" % path)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _output(data, filename, what, nodes=None):
    """Write data to filename, or to a new temporary file when it is None
    (and say where, in objgraph's words).  Returns the path."""
    if filename is None:
        import tempfile   # here: it imports random and shutil (see __init__.py)
        fd, path = tempfile.mkstemp(prefix="refchain-%s-" % what, suffix=".svg")
        os.close(fd)
        try:
            write_file(path, data)
        except BaseException:
            os.unlink(path)
            raise
        print("Graph written to %s" % path if nodes is None
              else "Graph written to %s (%d nodes)" % (path, nodes))
        return path
    return write_file(filename, data)


def _target(filename, func):
    """(path, format) for filename (str or os.PathLike), or (None, 'svg')."""
    if filename is None:
        return None, "svg"
    try:
        path = os.fspath(filename)
    except TypeError:
        raise TypeError("%s() argument 'filename' must be a path, not %s"
                        % (func, type(filename).__name__)) from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return path, format_of(path)


# ---- what a node says ----------------------------------------------------------------


def _attr_count(obj):
    """How many attributes (slots and __dict__ entries) obj has, read through
    tp_traverse: no __getattr__, no property, no user code."""
    tp = type(obj)
    refs = [r for r in gc.get_referents(obj) if r is not tp]
    if any(type(r) is dict for r in refs):
        desc = _safe._dict_descriptor(obj)
        try:
            ns = desc.__get__(obj) if desc is not None else None
        except Exception:
            ns = None
        if type(ns) is dict and any(r is ns for r in refs):
            return len(refs) - 1 + dict.__len__(ns)
    return len(refs)


def _has_attributes(obj):
    """Whether obj's class gives its instances a __dict__ or __slots__."""
    if _safe._dict_descriptor(obj) is not None:
        return True
    for cls in _safe._mro(obj):
        ns = _safe._class_dict(cls)
        if ns is not None and _safe._dict_get(ns, "__slots__", _safe._MISSING) \
                is not _safe._MISSING:
            return True
    return False


def _safe_repr(obj, use_repr):
    """A short description of obj that runs no user code (unless use_repr)."""
    tp = type(obj)
    try:
        if _safe._is_one_of(obj, _SCALARS):
            if tp is int and int.bit_length(obj) > 128:
                return "<int of %d bits>" % int.bit_length(obj)
            return _short(repr(obj))
        if tp is str:
            return _short(str.__repr__(obj[:_REPR_MAX + 1]))
        if tp is bytes:
            return _short(bytes.__repr__(obj[:_REPR_MAX + 1]))
        if _sized_len(tp) is not None:
            n = _sized_len(tp)(obj)
            return "%d item%s" % (n, "" if n == 1 else "s")
        if _safe._is(obj, types.ModuleType):
            name = _safe._dict_get(_safe._module_dict(obj), "__name__")
            return _short(name) if type(name) is str else ""
        if _safe._is(obj, type):
            return _short(_safe._class_name(obj))
        if tp is types.FunctionType:
            return _short(_safe._func_qualname(obj) + "()")
        if tp is types.FrameType:
            code = _safe._frame_code(obj)
            return _short("%s() at %s:%d" % (code.co_name, _display_path(code.co_filename),
                                             _safe._frame_lineno(obj) or 0))
        if tp is types.CodeType:
            return _short(obj.co_name)
        if _safe._is(obj, weakref.ReferenceType):
            target = weakref.ReferenceType.__call__(obj)
            return "dead" if target is None else "to " + _short(_safe._tname(target))
        if _safe._type_flags(tp) & _safe._HEAPTYPE:
            if use_repr:
                try:
                    return _short(repr(obj))
                except Exception as e:
                    return "<repr() raised %s>" % _safe._tname(e)
            name = "%s@0x%x" % (_safe._type_name(tp), id(obj))
            for base, length in _SIZED:
                if _safe._is(obj, base):
                    return "%s (%d items)" % (name, length(obj))
            if not _has_attributes(obj):
                return name  # a C type made with PyType_FromSpec
            n = _attr_count(obj)
            return "%s (%d attr%s)" % (name, n, "" if n == 1 else "s")
    except Exception:
        pass
    return ""


def _facts_lines(view, obj, refcount):
    """Size and refcount, and the allocation line."""
    size = human_bytes(view.size(obj))
    if refcount is None:
        lines = [size]
    elif refcount < 0 or refcount >= _STATIC_REFCOUNT:
        lines = ["%s, immortal" % size]
    else:
        lines = ["%s, refcount %d" % (size, refcount)]
    site = view.site(obj)
    if site:
        lines.append(site)
    return lines


def _tooltip(view, obj, refcount):
    text = ["%s at 0x%x" % (view.class_name(obj), view.address(obj)),
            "%d bytes%s" % (view.size(obj),
                            "" if refcount is None else
                            ", immortal" if refcount < 0 or refcount >= _STATIC_REFCOUNT
                            else ", refcount %d" % refcount)]
    return "\n".join(text + view.traceback(obj, _TIP_FRAMES))


class _LiveView:
    """What a drawing reads of the objects it draws, from the live heap.  A
    snapshot's drawings read the same through refchain._snapdraw.SnapView
    (a chain or group tells which by its ._snap, see _view_of); the drawing
    code is one and the same."""

    __slots__ = ()

    def refcounts(self, objects):
        # The refcounts of the objects, from one capture that asks about
        # nothing else (max_depth=0).
        return list(_refchain._neighbourhood(objects, False, 0, 1, 1, (), None)[4])

    def repr_line(self, obj, use_repr):
        return _safe_repr(obj, use_repr)

    def type_line(self, obj, shortnames):
        if shortnames:
            return _format_name(_safe._type_name(type(obj)))
        return _safe._class_name(type(obj))

    def tname(self, obj):
        return _safe._tname(obj)

    def same_type(self, a, b):
        return type(a) is type(b)

    def namespace(self, obj):
        """Whether obj is a module or a class (its keys are names in code)."""
        return _safe._is(obj, (types.ModuleType, type))

    def size(self, obj):
        return _refchain._shallow_size(obj)

    def site(self, obj):
        return site_of(obj)

    def class_name(self, obj):
        return _safe._class_name(type(obj))

    def address(self, obj):
        return id(obj)

    def traceback(self, obj, max_frames):
        return traceback_lines(obj, max_frames)

    def edge_label(self, src, dst, index):
        return _edge_label(src, dst, index)

    def weak_edges(self, d, backwards, too_many, max_nodes):
        _weak_edges(d, backwards, too_many, max_nodes)


_LIVE = _LiveView()


def _view_of(answer):
    """The view that reads answer's objects: a snapshot's chain (or a group
    of one) carries ._snap, whose _drawing_view() reads the file."""
    chain = getattr(answer, "chain", answer)
    snap = getattr(chain, "_snap", None)
    return _LIVE if snap is None else snap._drawing_view()


# ---- the drawing ---------------------------------------------------------------------


class _Node:
    __slots__ = ("obj", "kind", "head", "lines", "facts")

    def __init__(self, obj, kind, head=None):
        self.obj = obj        # index into _Drawing.objects, or None
        self.kind = kind      # a kind name of _refchain._render
        self.head = head      # lines that replace the type and repr lines
        self.lines = []       # lines after the facts
        self.facts = True     # show the object's size, refcount and line


class _Drawing:
    """Nodes and edges by index.  The objects nodes stand for live in one
    list and nowhere else, so that counting their references can leave the
    drawing's own out."""

    def __init__(self, use_repr=False, view=_LIVE):
        self.view = view         # what reads the objects: _LIVE, or a snapshot's
        self.objects = []
        self.object_index = {}   # id(obj) -> index in objects
        self.nodes = []
        self.keys = {}           # key -> node index
        self.edges = []          # (from, to, label, style)
        self.title = []
        self.use_repr = use_repr
        self.refcounts = None
        self.look = None         # objgraph's options, a _Look, or None

    def _object(self, obj):
        i = self.object_index.get(id(obj))
        if i is None:
            i = self.object_index[id(obj)] = len(self.objects)
            self.objects.append(obj)
        return i

    def node(self, obj, kind="object", key=None):
        """The node for obj under key (id(obj) by default), made if new."""
        key = id(obj) if key is None else key
        n = self.keys.get(key)
        if n is None:
            n = self.keys[key] = len(self.nodes)
            self.nodes.append(_Node(self._object(obj), kind))
        return n

    def placeholder(self, text, kind="more"):
        self.nodes.append(_Node(None, kind, head=[text]))
        return len(self.nodes) - 1

    def edge(self, a, b, label="", style="strong"):
        self.edges.append((a, b, label, style))

    def note(self, text):
        self.title.append(_short(text, _TITLE_LINE_MAX))

    def render(self, fmt):
        view = self.view
        if self.refcounts is None:
            self.refcounts = view.refcounts(self.objects) if self.objects else []
        nodes = []
        for i, node in enumerate(self.nodes):
            tip = ""
            lines = list(node.head or ())
            attrs = ()
            if node.obj is not None:
                obj, count = self.objects[node.obj], self.refcounts[node.obj]
                r = view.repr_line(obj, self.use_repr)
                if node.head is None:
                    lines = [_type_line(view, obj, self.look)] + ([r] if r else [])
                elif r:
                    lines.append("e.g. " + r)
                if node.facts:
                    lines += _facts_lines(view, obj, count if self.look is None or
                                          self.look.refcounts is not False else None)
                tip = _tooltip(view, obj, count)
                if self.look is not None:
                    extra, attrs = self.look.of(obj)
                    lines += extra
                del obj
            lines += node.lines
            nodes.append((i, "\n".join(lines), tip, node.kind, attrs) if attrs
                         else (i, "\n".join(lines), tip, node.kind))
        return _refchain._render(nodes, self.edges, fmt, "\n".join(self.title))


class _Look:
    """objgraph's drawing options: highlight(obj) draws obj in blue,
    extra_info(obj) adds a line, extra_node_attrs(obj) adds Graphviz
    attributes, refcounts=False hides the refcount, and shortnames picks
    the type line (None: refchain's module.qualname; True: the class's
    __name__; False: qualified).  These call the user's functions, as
    objgraph does, after the capture."""

    __slots__ = ("highlight", "extra_info", "extra_node_attrs", "refcounts", "shortnames")

    def __init__(self, highlight=None, extra_info=None, extra_node_attrs=None,
                 refcounts=None, shortnames=None, func="show_backrefs"):
        _check_callable(highlight, "highlight", func)
        _check_callable(extra_info, "extra_info", func)
        _check_callable(extra_node_attrs, "extra_node_attrs", func)
        self.highlight, self.extra_info = highlight, extra_info
        self.extra_node_attrs = extra_node_attrs
        self.refcounts, self.shortnames = refcounts, shortnames

    def of(self, obj):
        """(extra label lines, Graphviz attribute pairs) for obj."""
        lines, attrs = [], []
        if self.extra_info is not None:
            info = self.extra_info(obj)
            if info is not None:
                lines += _short(str(info), RC_LINE_MAX).split("\n")
        if self.highlight is not None and self.highlight(obj):
            attrs += _HIGHLIGHT
        if self.extra_node_attrs is not None:
            extra = self.extra_node_attrs(obj)
            if extra:
                attrs += [(str(k), str(v)) for k, v in dict(extra).items()]
        return lines, tuple(attrs)


RC_LINE_MAX = 200


def _type_line(view, obj, look):
    return view.type_line(obj, look is not None and look.shortnames)


def _kind_of(root_kind):
    return root_kind if root_kind in _ROOT_WORDS else "object"


def _mark_root(d, n, root_kind):
    """Say what kind of root node n is, once."""
    word = _ROOT_WORDS.get(root_kind)
    if word and word not in d.nodes[n].lines:
        d.nodes[n].lines.append(word)


# ---- chains --------------------------------------------------------------------------


def _chain_steps(chain):
    """[(obj, label)] from the root to the target, the root's label None."""
    objs = chain.objects
    steps = [(objs[0], None)] + list(chain.steps)
    del objs
    return steps


class _Run:
    """k hops alike (the same label to the same type) left out of a drawing
    between the first and the last of a run, as the text reads 'hop ×k'."""

    __slots__ = ("count", "label", "typename")

    def __init__(self, count, label, typename):
        self.count, self.label, self.typename = count, label, typename


def _collapse_runs(steps, view):
    """steps with each run of 3 or more alike hops drawn as its first hop, a
    _Run for the middle ones, and its last hop."""
    out, i = [], 0
    while i < len(steps):
        obj, label = steps[i]
        j = i
        while (j + 1 < len(steps) and label is not None and steps[j + 1][1] == label
               and view.same_type(steps[j + 1][0], obj)):
            j += 1
        if j - i >= 2:
            out += [steps[i], _Run(j - i - 1, label, view.tname(obj)), steps[j]]
        else:
            out += steps[i:j + 1]
        i = j + 1
    return out


def _elide(steps, max_nodes):
    """steps, or its two ends around None when it has more than max_nodes."""
    if len(steps) <= max_nodes:
        return steps, 0
    head = max(1, max_nodes // 2)
    tail = max(1, max_nodes - head - 1)
    return steps[:head] + [None] + steps[-tail:], len(steps) - head - tail


def _draw_chain(d, chain, max_nodes):
    kind = chain.root_kind
    if kind == "unreachable":
        d.node(chain.target, "target")
        d.note(chain.root_description)
        return
    steps, elided = _elide(_collapse_runs(_chain_steps(chain), d.view), max_nodes)
    prev, obj = None, None
    for i, step in enumerate(steps):
        if step is None:
            n = d.placeholder("%s %d hops not drawn" % (_ELLIPSIS, elided))
            d.edge(prev, n, "", "elided")
            prev = n
            continue
        if isinstance(step, _Run):
            n = d.placeholder("%s %s %s ×%d" % (_ELLIPSIS, step.label, step.typename,
                                                    step.count))
            d.edge(prev, n, "", "elided")
            prev = n
            continue
        obj, label = step
        last = i == len(steps) - 1
        n = d.node(obj, "target" if last else _kind_of(kind) if i == 0 else "object")
        if i == 0:
            _mark_root(d, n, kind)
        else:
            d.edge(prev, n, label, "elided" if d.nodes[prev].obj is None else "strong")
        prev = n
    del steps, obj
    d.note(_chains.format_chain(chain) if chain.hops <= max_nodes
           else "%s, %d hops" % (chain.root_description, chain.hops))


def _draw_group(d, gi, group, max_nodes):
    chain, count = group.chain, group.count
    many = "%d \u00d7 %s" % (count, group.typename) if count != 1 else group.typename
    head = [many, "%s in all" % human_bytes(group.bytes)]
    sites = ["%s (%d)" % (site, n) for n, site in group.lines]

    def target(obj):
        n = d.node(obj, "target", key=("group", gi, "target"))
        d.nodes[n].head, d.nodes[n].lines, d.nodes[n].facts = head, sites, False
        return n

    if chain.root_kind == "unreachable":
        target(chain.target)
        d.note("%s: %s" % (many, _chains.UNREACHABLE))
        return
    # The labels the group's path reads (Group.step_labels), so the drawing
    # and the text name each hop alike.
    steps = _chain_steps(chain)
    steps[1:] = [(obj, (raw, label)) for (obj, raw), label in
                 zip(steps[1:], group.step_labels())]
    steps, elided = _elide(steps, max_nodes)
    path = [chain.root_description]
    prev, obj, parent, shared = None, None, None, True
    for i, step in enumerate(steps):
        if step is None:
            n = d.placeholder("%s %d hops not drawn" % (_ELLIPSIS, elided))
            d.edge(prev, n, "", "elided")
            path.append(_ELLIPSIS)
            prev, parent, shared = n, None, False
            continue
        obj, label = step
        if i == 0:
            n = target(obj) if len(steps) == 1 else d.node(obj, _kind_of(chain.root_kind))
            _mark_root(d, n, chain.root_kind)
            prev, parent = n, obj
            continue
        raw, label = label
        if label == "[*]" or positional(raw):
            shared = False      # one of many alike: each group draws its own
        path.append("%s %s" % (label, d.view.tname(obj)))
        if i == len(steps) - 1:
            n = target(obj)
            if count != 1:
                label = "%s \u00d7 %d" % (label, count)
        else:
            n = d.node(obj, "object", key=None if shared else ("group", gi, i))
        d.edge(prev, n, label, "elided" if d.nodes[prev].obj is None else "strong")
        prev, parent = n, obj
    del steps, obj, parent
    d.note("%s (%s), held through %s" % (many, human_bytes(group.bytes), " \u2192 ".join(path)))


def _chain_drawing(chain, use_repr, max_nodes):
    d = _Drawing(use_repr, _view_of(chain))
    _draw_chain(d, chain, max_nodes)
    return d


def _groups_drawing(groups, use_repr, max_nodes):
    d = _Drawing(use_repr, _view_of(groups[0]) if groups else _LIVE)
    if any(_view_of(g) is not d.view for g in groups):
        raise ValueError("cannot draw groups of different heaps (live, or another "
                         "snapshot) in one picture")
    for gi, group in enumerate(groups):
        _draw_group(d, gi, group, max_nodes)
    if not groups:
        d.note("(nothing to explain)")
    # explain()'s answer says what its limit left out; a plain list cannot.
    rest = groups.left_out() if callable(getattr(groups, "left_out", None)) else None
    if rest:
        d.note(rest)
    return d


# ---- back-references and references -------------------------------------------------


def _edge_label(src, dst, index):
    """What src -> dst is (attribute, key, index, local...), per _chains."""
    objs = [src, dst]
    try:
        _, label = _chains._label_step(objs, [index], 0)
    except Exception:
        label = ""
    return "" if label.startswith("<referent") else label


def _weak_edges(d, backwards, too_many, max_nodes):
    """Dashed edges for weak references: from each drawn object's weakrefs
    (backwards), or from each drawn weakref to its referent (forwards)."""
    obj = None
    for i in range(len(d.objects)):
        obj = d.objects[i]
        if backwards:
            try:
                refs = weakref.getweakrefs(obj)
            except Exception:
                refs = []
            refs = [r for r in refs if id(r) in d.object_index or len(d.objects) < max_nodes]
            for r in refs[:too_many]:
                if id(r) not in d.object_index and len(d.objects) >= max_nodes:
                    continue
                d.edge(d.node(r), d.keys[id(obj)], "weakref", "weak")
            del refs
        elif _safe._is(obj, weakref.ReferenceType):
            target = weakref.ReferenceType.__call__(obj)
            if target is not None and (id(target) in d.object_index or
                                       len(d.objects) < max_nodes):
                d.edge(d.keys[id(obj)], d.node(target), "weakref", "weak")
            del target
    del obj


def _hood_drawing(objs, backwards, max_depth, extra_ignore, filter, too_many, max_nodes,
                  use_repr, func, look=None):
    _check_objs(objs, func)
    max_depth = _check_int(max_depth, "max_depth", func, 0)
    too_many = _check_int(too_many, "too_many", func, 1)
    max_nodes = _check_int(max_nodes, "max_nodes", func, 1)
    if filter is not None and not callable(filter):
        raise TypeError("%s() argument 'filter' must be callable or None, not %s"
                        % (func, type(filter).__name__))
    try:
        ignore = [id(objs)] + list(extra_ignore)
    except TypeError:
        raise TypeError("%s() argument 'extra_ignore' must be an iterable of object ids, "
                        "not %s" % (func, type(extra_ignore).__name__)) from None
    starts = objs if type(objs) is list else list(objs)
    answer = _refchain._neighbourhood(starts, backwards, max_depth, too_many, max_nodes,
                                      ignore, filter)
    del starts
    d = _Drawing(use_repr)
    d.look = look
    _draw_hood(d, answer, len({id(o) for o in objs}), backwards, max_depth, too_many, max_nodes)
    return d


def _draw_hood(d, answer, n_starts, backwards, max_depth, too_many, max_nodes):
    """Draw _neighbourhood's answer (or a snapshot's, d.view reading its
    objects): the first n_starts objects are the ones asked about."""
    objects, edges, more, kinds, counts, capped = answer
    del answer
    obj = None
    for i, obj in enumerate(objects):
        d.node(obj, "target" if i < n_starts else _kind_of(kinds[i]))
        _mark_root(d, i, kinds[i])
    del obj, objects
    d.refcounts = list(counts)
    for src, dst, index in edges:
        d.edge(src, dst, d.view.edge_label(d.objects[src], d.objects[dst], index))
    for i, n in more:
        m = d.placeholder("%s %d more %s" % (_ELLIPSIS, n, "referrers" if backwards
                                             else "references"))
        d.edge(m, i, "", "elided") if backwards else d.edge(i, m, "", "elided")
    known = len(d.objects)
    d.view.weak_edges(d, backwards, too_many, max_nodes)
    d.refcounts += [None] * (len(d.objects) - known)
    what = "Referrers of" if backwards else "References from"
    d.note("%s %d object%s, up to %d hop%s" % (what, n_starts, "" if n_starts == 1 else "s",
                                              max_depth, "" if max_depth == 1 else "s"))
    if capped:
        d.note("Capped at %d objects (max_nodes=%d): %d more not drawn"
               % (max_nodes, max_nodes, capped))


# ---- the public calls ------------------------------------------------------------------


def _objgraph_target(filename, output, func):
    """(path, format) for objgraph's filename= and output= (a file object
    DOT text is written to)."""
    if filename is not None and output is not None:
        raise ValueError("Cannot specify both output and filename.")
    if output is not None:
        if not callable(getattr(output, "write", None)):
            raise TypeError("%s() argument 'output' must have a write() method" % func)
        return None, "dot"
    return _target(filename, func)


def _deliver(d, path, fmt, output, what):
    """Render d and hand it over as objgraph does: DOT text to `output`, or
    a file at `path` (or a new temporary SVG), saying so in objgraph's
    words.  Returns the path written, or None for `output`."""
    data = d.render(fmt)
    if output is not None:
        output.write(data.decode("utf-8", "replace"))
        return None
    if path is None:
        return _output(data, None, what, len(d.objects))
    write_file(path, data)
    if fmt in _TEXT_FORMATS:
        print("Graph written to %s (%d nodes)" % (path, len(d.objects)))
    else:
        print("Image generated as %s" % path)
    return path


def _show_hood(objs, backwards, max_depth, extra_ignore, filter, too_many, highlight,
               filename, extra_info, refcounts, shortnames, output, extra_node_attrs,
               max_nodes, use_repr, func):
    path, fmt = _objgraph_target(filename, output, func)
    if not isinstance(objs, (list, tuple)):
        objs = [objs]       # objgraph accepts one object
    look = _Look(highlight, extra_info, extra_node_attrs, refcounts, shortnames, func)
    d = _hood_drawing(objs, backwards, max_depth, extra_ignore, filter, too_many, max_nodes,
                      use_repr, func, look)
    return _deliver(d, path, fmt, output, "backrefs" if backwards else "refs")


def show_backrefs(objs, max_depth=3, extra_ignore=(), filter=None, too_many=10,
                  highlight=None, filename=None, extra_info=None, refcounts=None,
                  shortnames=None, output=None, extra_node_attrs=None, *,
                  max_nodes=MAX_NODES, repr=False):
    """Draw what refers to each object of `objs` (a list, or one object), up
    to max_depth references away, into `filename` (its extension picks the
    format: .svg, .png, .pdf, .dot, .jpg, ...), or as DOT text into
    `output` (a file object).  objgraph's call and keywords: extra_ignore
    is a collection of id()s to leave out, filter(obj) -> false leaves obj
    out, a node shows at most too_many referrers (the others are counted in
    a "… N more" node), highlight(obj) -> true draws obj in blue,
    extra_info(obj) adds a line, extra_node_attrs(obj) -> dict adds Graphviz
    attributes, refcounts=False hides refcounts, shortnames=True shows bare
    class names.  max_nodes caps the whole graph.  Referrers are not
    followed past a module.  Without a filename the picture goes to a new
    SVG file in the temporary directory.  Returns the path written."""
    return _show_hood(objs, True, max_depth, extra_ignore, filter, too_many, highlight,
                      filename, extra_info, refcounts, shortnames, output, extra_node_attrs,
                      max_nodes, repr, "show_backrefs")


def show_refs(objs, max_depth=3, extra_ignore=(), filter=None, too_many=10,
              highlight=None, filename=None, extra_info=None, refcounts=None,
              shortnames=None, output=None, extra_node_attrs=None, *,
              max_nodes=MAX_NODES, repr=False):
    """Draw what each object of `objs` refers to, up to max_depth references
    away; otherwise like show_backrefs()."""
    return _show_hood(objs, False, max_depth, extra_ignore, filter, too_many, highlight,
                      filename, extra_info, refcounts, shortnames, output, extra_node_attrs,
                      max_nodes, repr, "show_refs")


def _is_objgraph_chain(x):
    return isinstance(x, (list, tuple)) and not isinstance(x, _refchain.Chain)


def _draw_list_chain(d, chain, backrefs):
    """An objgraph chain, a list of objects each referring to the next
    (find_backref_chain's [root, ..., obj], find_ref_chain's [obj, ...,
    target]), drawn as it is.  The object asked about is red: the last with
    backrefs, the first without."""
    target = chain[-1] if backrefs else chain[0]
    prev = None
    for i, obj in enumerate(chain):
        n = d.node(obj, "target" if obj is target else "object")
        if prev is not None:
            d.edge(prev, n, _pair_label(chain[i - 1], obj))
        prev = n
    del obj, target


def _pair_label(src, dst):
    """The label of the reference src -> dst: relate's name for the first
    referent of src that is dst."""
    for index, ref in enumerate(gc.get_referents(src)):
        if ref is dst:
            del ref
            return _edge_label(src, dst, index)
    return ""


def show_chain(*chains, backrefs=True, highlight=None, extra_info=None, refcounts=None,
               shortnames=None, filename=None, output=None, extra_node_attrs=None,
               max_nodes=MAX_NODES, repr=False):
    """Draw chains into one picture, into `filename` (see show_backrefs()
    for formats) or as DOT text into `output`.  Each chain is a Chain
    (find_chain's answer), objgraph's list of objects (find_backref_chain's
    or find_ref_chain's answer: each object refers to the next), or any
    other object, drawn as find_chain(obj).  Empty chains are skipped, as
    objgraph skips them.  backrefs=False marks the first object of a list
    as the one asked about, not the last.  Returns the path written."""
    path, fmt = _objgraph_target(filename, output, "show_chain")
    max_nodes = _check_int(max_nodes, "max_nodes", "show_chain", 1)
    d = _Drawing(repr)
    d.look = _Look(highlight, extra_info, extra_node_attrs, refcounts, shortnames,
                   "show_chain")
    chains = [c for c in chains if not (_is_objgraph_chain(c) and not c)]
    item = None
    for item in chains:
        if _is_objgraph_chain(item):
            _draw_list_chain(d, list(item), backrefs)
            continue
        chain = item if isinstance(item, _refchain.Chain) else _refchain.find_chain(item)
        if chain is None:
            d.node(item, "target")
            d.note("Nothing keeps this object alive besides the caller's own variables")
        else:
            _draw_chain(d, chain, max_nodes)
        del chain
    del item, chains
    return _deliver(d, path, fmt, output, "chain")


def show_groups(groups, filename, max_nodes=MAX_NODES, repr=False):
    """show_explain(..., filename=...): the groups as one collapsed graph."""
    path, fmt = _target(filename, "show_explain")
    return write_file(path, _groups_drawing(groups, repr, max_nodes).render(fmt))


def render_groups(groups, format="svg"):
    return _groups_drawing(list(groups), False, MAX_NODES).render(_check_format(format,
                                                                                 "render"))


def chain_svg(chain):
    """Chain._repr_svg_: the chain as SVG text."""
    return _chain_drawing(chain, False, MAX_NODES).render("svg").decode("utf-8")


# ---- the dominator tree -------------------------------------------------------------


def _dominators_drawing(obj, depth, width, use_repr):
    d = _Drawing(use_repr)
    tree = _refchain._dominator_tree(obj, depth, width)
    _draw_dominators(d, tree, _safe._tname(obj))
    return d


def _draw_dominators(d, tree, top_name):
    """Draw _dominator_tree's answer (live objects, or a snapshot's
    SnapNodes) into d."""
    nodes = []
    for i, (o, parent, nbytes, count, others) in enumerate(tree):
        what = "retains %s in %s object%s" % (human_bytes(nbytes), "{:,}".format(count),
                                            "" if count == 1 else "s")
        if o is None:
            n = d.placeholder("%s %s more" % (_ELLIPSIS, "{:,}".format(others)))
            d.nodes[n].lines.append(what)
        else:
            n = d.node(o, "target" if i == 0 else "object")
            d.nodes[n].lines.append(what)
        nodes.append(n)
        if parent >= 0:
            d.edge(nodes[parent], n, "", "elided" if o is None else "strong")
    del o, tree
    d.note("What %s retains: each object's children are what only it keeps alive, the "
           "largest first" % top_name)


def show_dominators(obj, filename=None, *, depth=3, width=8, repr=False):
    """Draw obj's dominator subtree into `filename` (see show_backrefs() for
    formats): the objects only obj keeps alive, each under the object that
    alone keeps it alive, with what each retains (bytes and objects).  Each
    node shows its `width` largest children, the rest summed up in one
    node; `depth` levels below obj.  Returns the path."""
    path, fmt = _target(filename, "show_dominators")
    depth = _check_int(depth, "depth", "show_dominators", 0)
    width = _check_int(width, "width", "show_dominators", 1)
    d = _dominators_drawing(obj, depth, width, repr)
    del obj
    return _output(d.render(fmt), path, "dominators")
