"""Describing chains for people: root descriptions, and edge labels from C.

The labels of a chain's references (`['_CACHE']`, `.active`, `[3]`,
`closure 'x'`, `local 'x'`, `.x in thread T`, `.result()`...) come from
relate (walker/relate.c) through _refchain._label_path(); label_path() only
escapes them for text.

The root descriptions run after the capture, on objects a Chain holds
strongly, so they may call Python code; they still avoid calling user code:
no repr() of user objects, no getattr() on user classes (a property is user
code), no overridden __iter__/__getitem__/__eq__.  Types are compared with
`is`, and names are never looked up with a dict's own lookup (`d.get(name)`,
`name in d`), which calls the __eq__ of a key whose hash collides with the
name: _dict_get() compares exact-str keys only."""

import gc
import sys
import types
from _thread import _local

from refchain import _format, _refchain
from refchain._safe import (
    _class_name,
    _dict_descriptor,
    _dict_get,
    _frame_code,
    _frame_lineno,
    _func_module,
    _func_qualname,
    _is,
    _module_dict,
    _tname,
    _type_name,
)
from refchain._sites import display_path as _display_path, site_of, site_of_frames

_PY310 = sys.version_info >= (3, 10)

_FALLBACK = "<referent #%d>"


def tool_globals():
    """The globals dicts of refchain's own modules.  sys.modules may hold
    keys of any type: only str keys name modules."""
    mods = sorted((name, m) for name, m in list(dict.items(sys.modules))
                  if type(name) is str and (name == "refchain" or name.startswith("refchain."))
                  and _is(m, types.ModuleType))
    return tuple(_module_dict(m) for _, m in mods)


# ---- one step ------------------------------------------------------------------------


def _lru_layout(wrapper):
    """(referents, start, stride, links, cache, func) of an lru_cache
    wrapper.  Its traversal visits a bounded cache's links first, from
    index `start`: (key, result) pairs before 3.10, (key, result, link type)
    triples after the wrapper's type from 3.10; `links` is their number.
    Then its cache dict and the wrapped callable, at the indexes `cache` and
    `func`: func first before 3.10, the cache first from 3.10.  The links
    are counted from the cache dict, which maps each key to its link (an
    unbounded cache has no links, and maps keys to results).  cache and func
    are None when the referents are not laid out so."""
    refs = gc.get_referents(wrapper)
    start, stride = (1, 3) if _PY310 else (0, 2)
    links = 0
    for r in refs:
        if type(r) is dict and dict.__len__(r):
            link_type = type(next(iter(dict.values(r))))
            if _type_name(link_type) == "_lru_list_elem" and \
                    all(type(v) is link_type for v in dict.values(r)):
                links = dict.__len__(r)
                break
    after = start + stride * links
    cache, func = (after, after + 1) if _PY310 else (after + 1, after)
    if max(cache, func) >= len(refs) or type(refs[cache]) is not dict:
        return refs, start, stride, 0, None, None
    return refs, start, stride, links, cache, func


def _lru_wrapper_dict(wrapper):
    desc = _dict_descriptor(wrapper)
    return desc.__get__(wrapper) if desc is not None else None


def _label_step(objs, edges, i):
    """(hops consumed, label) for the step that starts at objs[i], named by
    relate (walker/relate.c)."""
    steps = _refchain._label_path(tuple(objs), tuple(edges), i, 1)
    if not steps:
        return 1, _FALLBACK % (edges[i] if i < len(edges) else -1)
    return steps[0][0] - i, steps[0][1]


# ---- roots ---------------------------------------------------------------------------


def _thread_of(frame):
    """'thread NAME' for the thread whose stack holds frame, or None."""
    name = _refchain._thread_of(frame)
    return None if name is None else "thread %s" % _format.name(name)


def _describe_frame(frame, thread=None):
    """The frame in words; `thread` names its thread when the caller read
    it already (a Chain reads it when it is found)."""
    code = _frame_code(frame)
    where = "%s() at %s:%d" % (_format.name(code.co_name), _display_path(code.co_filename),
                               _frame_lineno(frame) or 0)
    thread = "thread %s" % _format.name(thread) if thread is not None else _thread_of(frame)
    return "frame %s" % where + (" in %s" % thread if thread else "")


def _describe_cache(wrapper):
    wdict = _lru_wrapper_dict(wrapper)
    func = _dict_get(wdict, "__wrapped__") if type(wdict) is dict else None
    if type(func) is types.FunctionType:
        module, qualname = _func_module(func), _func_qualname(func)
        if type(module) is str:
            return "cache %s.%s" % (_format.name(module), _format.name(qualname))
        return "cache %s" % _format.name(qualname)
    qualname = _dict_get(wdict, "__qualname__") if type(wdict) is dict else None
    if type(qualname) is str:
        return "cache %s" % _format.name(qualname)
    if func is None:
        refs, _, _, _, _, index = _lru_layout(wrapper)
        func = refs[index] if index is not None else None
        del refs
    if func is not None and type(func) is not types.FunctionType:
        # A callable object: sqlite3's statement cache wraps its Connection.
        return "cache (an lru_cache of a %s)" % _class_name(type(func))
    return "cache (an lru_cache)"


UNREACHABLE = ("unreachable (alive, but held only by garbage: a reference cycle or other "
               "garbage that the next gc.collect() frees)")


def _describe_root(kind, root, thread=None):
    if kind == "unreachable":
        return UNREACHABLE
    if kind == "module":
        name = None
        try:
            name = _dict_get(_module_dict(root), "__name__")
        except Exception:
            pass
        return "module %s" % (_format.name(name) if type(name) is str else "<%s>" % _tname(root))
    if kind == "class" and _is(root, type):
        return "class %s" % _class_name(root)
    if kind == "cache":
        return _describe_cache(root)
    if kind == "frame" and type(root) is types.FrameType:
        return _describe_frame(root, thread)
    if kind == "immortal":
        if _is(root, type):
            return "immortal type %s" % _class_name(root)
        return "immortal %s" % _tname(root)
    if kind == "c":
        return _describe_c_held(root)
    return "%s %s" % (kind, _tname(root))


_method_func = types.MethodType.__dict__["__func__"].__get__


def _signal_of(handler):
    """The name of the signal whose handler is `handler`, or None."""
    signal = _dict_get(sys.modules, "_signal")    # the C module: plain ints, C functions
    if not _is(signal, types.ModuleType):
        return None
    ns = _module_dict(signal)
    getsignal, valid = _dict_get(ns, "getsignal"), _dict_get(ns, "valid_signals")
    if type(getsignal) is not types.BuiltinFunctionType or \
            type(valid) is not types.BuiltinFunctionType:
        return None
    for signum in valid():
        try:
            if getsignal(signum) is handler:
                names = sorted(k for k, v in dict.items(ns) if type(k) is str and
                               k.startswith("SIG") and "_" not in k and type(v) is int and
                               v == signum)
                return names[0] if names else "signal %d" % signum
        except Exception:
            continue
    return None


def _describe_c_held(root):
    """What C code holds, named when it is a callable: CPython lists no
    atexit callback, audit hook or codec search function, so a bound method
    or a function held from C is most often one of those."""
    func = _method_func(root) if type(root) is types.MethodType else root
    if type(func) is not types.FunctionType:
        return "C code (held by a reference no Python object explains)"
    module, qualname = _func_module(func), _func_qualname(func)
    what = "%s.%s" % (_format.name(module), _format.name(qualname)) \
        if type(module) is str and type(root) is types.FunctionType else _format.name(qualname)
    what = ("a bound method %s" if type(root) is types.MethodType else "a function %s") % what
    signame = _signal_of(root)
    where = ("the handler of %s" % signame if signame else
             "an atexit callback, or another registry kept in C")
    return "C code: %s (%s)" % (what, where)


# ---- entry points ---------------------------------------------------------------------


def describe(chain):
    """(root description, ((object index, label), ...)) for a Chain."""
    objs = chain.objects
    kind = chain.root_kind
    try:
        root = _describe_root(kind, objs[0], chain._thread)
    except Exception:
        root = "%s %s" % (kind, _tname(objs[0]))
    if kind == "unreachable":
        return (root, ())
    return (root, label_path(objs, chain._edge_indexes, chain._labels))


def label_path(objs, edges, read=None):
    """((object index, label), ...) for the references objs[0] -> objs[1]
    -> ... (edges[i]: the index of objs[i + 1] among objs[i]'s referents).
    One label may span several objects (an instance's __dict__ and the
    attribute in it read '.attr'); the index is where each label ends.
    `read`: the labels relate gave when the chain was found (a Chain's
    _labels), else they are read now."""
    steps = []
    shown = {}          # label -> as text shows it (a long chain repeats a few)
    if read is None:
        read = _refchain._label_path(tuple(objs), tuple(edges))
    for end, label in read:
        # A label holds one name (a key, an attribute, a variable).
        text = shown.get(label)
        if text is None:
            text = shown[label] = _format.name(label)
        steps.append((end, text))
    return tuple(steps)


def _target_info(obj, node=False):
    """'(size B), allocated at site' of a live object, or of a snapshot's
    object (node: a SnapNode, as its file recorded it)."""
    if node:
        text, site = "(%d B)" % obj.size, site_of_frames(obj.frames())
    else:
        text, site = "(%d B)" % _refchain._shallow_size(obj), site_of(obj)
    if site:
        text += ", allocated at %s" % site
    return text


def format_chain(chain):
    """One line: root, then ' → label type' per step, the target's size and
    allocation line last.  A step repeated k times in a row (a nested
    list's '[0] list', a linked list's '.next Node') reads once, as
    '[0] list ×k', as garbage() paths do; the Chain keeps every step.  A
    snapshot's chain (refchain.SnapChain, with ._snap) reads the same from
    what its file recorded."""
    root, steps = chain.root_description, chain.steps
    target = chain.target
    node = getattr(chain, "_snap", None) is not None
    if chain.root_kind == "unreachable":
        return "%s: %s %s" % (root, type_name(target, node), _target_info(target, node))
    if not steps:
        return "%s %s" % (root, _target_info(target, node))
    type_names = {}     # id(type) -> its name as text shows it

    def hop(step):
        obj, label = step
        if node:
            return "%s %s" % (label, type_name(obj, True))
        tp = type(obj)
        name = type_names.get(id(tp))
        if name is None:
            name = type_names[id(tp)] = _tname(obj)
        return "%s %s" % (label, name)

    parts = [root]
    parts.extend(_format.runs(map(hop, steps)))
    del steps
    return " → ".join(parts) + " " + _target_info(target, node)


def type_name(obj, node=False):
    """The name of obj's type as text shows it; node: obj is a SnapNode."""
    return _format.name(obj.tname) if node else _tname(obj)


def chain_repr(chain):
    """repr() of a Chain: its root's kind, its length and its target's type."""
    try:
        target = chain.target
    except ReferenceError:
        return "<refchain.Chain: cleared by the garbage collector>"
    name = _format.name(_refchain._tp_name(type(target)))
    del target
    return "<refchain.Chain: %s root, %d hops to a %s>" % (chain.root_kind, chain.hops, name)


def any_thread(label, parent, node):
    """A group's label for the hop parent -> label: a threading.local's item
    in one thread (`.x in thread T`) reads `.x in thread *`, since a group
    holds the item's objects in every thread (the local's per-thread dicts
    collapse, as a dict's items do).  node: parent is a snapshot's."""
    if " in thread " in label and (
            parent.typename == "_thread._local" if node else _is(parent, _local)):
        return label.rpartition(" in thread ")[0] + " in thread *"
    return label
