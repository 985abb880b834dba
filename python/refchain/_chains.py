"""Describing chains for people: edge labels and root descriptions.

Runs after the capture, on objects a Chain holds strongly, so it may call
Python code; it still avoids calling user code: no repr() of user objects, no
getattr() on user classes (a property is user code), no overridden
__iter__/__getitem__/__eq__.  It reads objects only through trusted C
machinery: gc.get_referents(), member descriptors (the slots of a class and
the PyMemberDef fields of builtin types), a short list of getset descriptors
of builtin types, and the unbound methods of builtin containers.

Types are compared with `is` (`==` and `in (...)` call a metaclass's
__eq__).  Names are never looked up with a dict's own lookup (`d.get(name)`,
`name in d`), which calls the __eq__ of a key whose hash collides with the
name: _dict_get() and _names() compare exact-str keys only.

A chain from the C side is one object per hop of the raw reference graph:
module -> its __dict__ -> value.  A person reads that as one step, so the
namespace hops are collapsed here: module globals `['name']`, instance and
class attributes `.name`, closure variables `closure 'x'`, frame locals
`local 'x'` and globals `global 'x'`, lru_cache entries `[key]`, and a
threading.local's attributes `.x in thread T`."""

import gc
import sys
import types

from refchain import _format, _refchain
from refchain._safe import (
    _GETSET,
    _HEAPTYPE,
    _MEMBER,
    _MISSING,
    _cell_contents,
    _class_dict,
    _class_name,
    _dict_descriptor,
    _dict_get,
    _frame_back,
    _frame_code,
    _frame_globals,
    _frame_lineno,
    _func_closure,
    _func_code,
    _func_module,
    _func_qualname,
    _is,
    _is_one_of,
    _module_dict,
    _mro,
    _tname,
    _type_flags,
    _type_mro,
    _type_name,
)
from refchain._sites import display_path as _display_path, site_of

_PY311 = sys.version_info >= (3, 11)
_PY310 = sys.version_info >= (3, 10)

_MANAGED_DICT = 1 << 4  # 3.11+: the instance's attributes may live inline

_KEY_REPR_MAX = 40
_FALLBACK = "<referent #%d>"


# Getset descriptors of builtin types that only return a field (or build a
# harmless view of one).  Member descriptors need no list: reading a
# PyMemberDef field is always safe.
_SAFE_GETSETS = {
    BaseException: ("__traceback__", "__cause__", "__context__", "args"),
    types.FunctionType: ("__code__", "__defaults__", "__kwdefaults__"),
    types.FrameType: ("f_back", "f_code", "f_globals", "f_builtins", "f_trace"),
    types.TracebackType: ("tb_next", "tb_frame"),
    type: ("__bases__",),
}


def tool_globals():
    """The globals dicts of refchain's own modules.  sys.modules may hold
    keys of any type: only str keys name modules."""
    mods = sorted((name, m) for name, m in list(dict.items(sys.modules))
                  if type(name) is str and (name == "refchain" or name.startswith("refchain."))
                  and _is(m, types.ModuleType))
    return tuple(_module_dict(m) for _, m in mods)


# id(d) -> (d, copy) for the namespaces _names() copied during one
# describe() call.
_names_memo = {}


def _names(d):
    """A copy of the namespace d with only its exact-str keys, for many
    lookups: looking a str up in it runs no user code, in O(1)."""
    memo = _names_memo.get(id(d))
    if memo is None or memo[0] is not d:
        memo = _names_memo[id(d)] = (d, {k: v for k, v in dict.items(d) if type(k) is str})
    return memo[1]


def _key_repr(key, depth=0):
    """repr() of a dict key, for builtin key types only, truncated."""
    t = type(key)
    if key is None or t is bool or t is float:
        r = repr(key)
    elif t is int:
        try:
            r = repr(key)
        except ValueError:  # 3.11+: too many digits to convert
            r = "<int>"
    elif t is str or t is bytes:
        r = repr(key[:_KEY_REPR_MAX + 1])
    elif t is tuple and depth < 3:
        parts = []
        for item in key[:8]:
            parts.append(_key_repr(item, depth + 1))
            if sum(len(p) for p in parts) > _KEY_REPR_MAX:
                break
        if len(key) > len(parts):
            parts.append("...")
        r = "(%s%s)" % (", ".join(parts), "," if len(key) == 1 else "")
    else:
        return "<%s>" % _type_name(t)
    if depth == 0 and len(r) > _KEY_REPR_MAX:
        r = r[:_KEY_REPR_MAX - 3] + "..."
    return r


def _dict_find(d, value):
    """The key under which dict d holds value (by identity), or raise KeyError."""
    for k, v in dict.items(d):
        if v is value:
            return k
    raise KeyError


def _dict_has_key(d, key):
    for k in dict.keys(d):
        if k is key:
            return True
    return False


def _attr_name(key):
    return key if type(key) is str else "[%s]" % _key_repr(key)


def _seq_index(seq, child, edge, getitem, length):
    """Index of child in a list/tuple-like seq, preferring the one the edge
    index points at."""
    n = length(seq)
    try:
        refs = gc.get_referents(seq)
    except Exception:
        refs = []
    offset = len(refs) - n
    if 0 <= edge - offset < n and getitem(seq, edge - offset) is child:
        return edge - offset
    for i in range(n):
        if getitem(seq, i) is child:
            return i
    return None


# id(type) -> (type, members, getsets, dict descriptor) for the duration of
# one describe() call (see _layout).
_layout_memo = {}


def _layout(obj):
    """(type, members, getsets, dict descriptor) of obj's type, found once
    per type: its member descriptors ((name, descriptor) in MRO order: the
    __slots__ of classes and the PyMemberDef fields of builtin types), the
    known-safe getset descriptors that apply, and the descriptor of its
    __dict__ (see _dict_descriptor)."""
    tp = type(obj)
    memo = _layout_memo.get(id(tp))
    if memo is not None and memo[0] is tp:
        return memo
    members = []
    for cls in _mro(obj):
        try:
            ns = _class_dict(cls)
        except Exception:
            continue
        if ns is not None:
            members.extend((name, desc) for name, desc in list(dict.items(ns))
                           if type(desc) is _MEMBER)
    getsets = []
    for cls, names in _SAFE_GETSETS.items():
        if _is(obj, cls):
            ns = _class_dict(cls)
            for name in names:
                desc = _dict_get(ns, name) if ns is not None else None
                if _is_one_of(desc, (_GETSET, _MEMBER)):
                    getsets.append((name, desc))
    memo = _layout_memo[id(tp)] = (tp, members, getsets, _dict_descriptor(obj))
    return memo


def _read(obj, descriptors):
    """(name, value) for each of descriptors that obj has a value for."""
    for name, desc in descriptors:
        try:
            value = desc.__get__(obj)
        except Exception:  # an unset slot
            continue
        yield name, value


def _code_names(code, out, depth=0):
    try:
        out.update(n for n in code.co_names if type(n) is str)
        if depth < 4:
            for c in code.co_consts:
                if type(c) is types.CodeType:
                    _code_names(c, out, depth + 1)
    except Exception:
        pass


def _function_names(value, out):
    """Attribute names the code of a function-ish class member uses."""
    if _is_one_of(value, (staticmethod, classmethod)):
        try:
            value = value.__func__
        except Exception:
            return
    if type(value) is property:
        for f in (value.fget, value.fset, value.fdel):
            _function_names(f, out)
        return
    if type(value) is types.FunctionType:
        _code_names(_func_code(value), out)


# The candidate names per type, for the duration of one describe() call.
_candidates_memo = {}


def forget():
    """Drop what one describe() call remembered (it holds namespaces)."""
    _candidates_memo.clear()
    _names_memo.clear()
    _inline_memo.clear()
    _layout_memo.clear()
    _handlers_memo.clear()


def _candidate_attrs(obj):
    """Names obj's attributes are likely to have, without reading its
    __dict__: every name the code of its class, of the module that defines
    the class, of __main__ and of the code running on any thread uses, and
    the class's annotations."""
    memo = _candidates_memo.get(id(type(obj)))
    if memo is not None:
        return memo
    names = _candidates_memo[id(type(obj))] = set()
    namespaces = []
    for cls in _mro(obj):
        if not _type_flags(cls) & _HEAPTYPE:
            continue
        ns = _class_dict(cls)
        if ns is None:
            continue
        namespaces.append(ns)
        ann = _dict_get(ns, "__annotations__")
        if type(ann) is dict:
            names.update(k for k in dict.keys(ann) if type(k) is str)
        slots = _dict_get(ns, "__slots__")
        if _is_one_of(slots, (tuple, list)):
            names.update(k for k in slots if type(k) is str)
        modname = _dict_get(ns, "__module__")
        module = _dict_get(sys.modules, modname) if type(modname) is str else None
        if _is(module, types.ModuleType):
            try:
                namespaces.append(_module_dict(module))
            except Exception:
                pass
    main = _dict_get(sys.modules, "__main__")
    if _is(main, types.ModuleType):
        namespaces.append(_module_dict(main))
    # The code running on every thread's stack (a script's module-level
    # code sets attributes too).
    try:
        tops = list(_refchain._thread_frames().values())
    except Exception:
        tops = []
    for f in tops:
        depth = 0
        while f is not None and depth < 1000:
            _code_names(_frame_code(f), names)
            f = _frame_back(f)
            depth += 1
    del tops
    seen = set()
    for ns in namespaces:
        if id(ns) in seen:
            continue
        seen.add(id(ns))
        for value in list(dict.values(ns)):
            if type(value) is type or (_is(value, type) and _type_flags(value) & _HEAPTYPE):
                inner = _class_dict(value) if _is(value, type) else None
                for v in list(dict.values(inner)) if inner is not None else ():
                    _function_names(v, names)
            else:
                _function_names(value, names)
    return names


def _class_attr(obj, name):
    """(found, value) of name in the namespaces of obj's type's MRO."""
    for cls in _mro(obj):
        ns = _class_dict(cls)
        value = _names(ns).get(name, _MISSING) if ns is not None else _MISSING
        if value is not _MISSING:
            return True, value
    return False, None


def _has_get(value):
    """Whether type(value) defines __get__ (is a descriptor)."""
    for c in _type_mro(type(value)):
        ns = _class_dict(c)
        if ns is not None and _names(ns).get("__get__", _MISSING) is not _MISSING:
            return True
    return False


def _plain_attr(obj, name):
    """obj's own attribute `name`, or None: read only when no class of its
    MRO defines the name as a descriptor (a property of a Thread subclass
    is user code) and no key there or in its __dict__ would be compared
    with the name (see _inline_names)."""
    dicts = [ns for ns in map(_class_dict, _mro(obj)) if ns is not None]
    dicts += [r for r in gc.get_referents(obj) if type(r) is dict]
    if _refchain._colliding_names([name], dicts):
        return None
    found, class_value = _class_attr(obj, name)
    if found:
        return None         # a descriptor, or a value of the class's own
    try:
        return object.__getattribute__(obj, name)
    except Exception:
        return None


# id(type) -> (type, [(name, its class value or _MISSING)], [the last match])
# for the duration of one describe() call (see _inline_names).
_inline_memo = {}


def _inline_names(obj):
    """(type, names, last) for _inline_attr: the candidate attribute names of
    obj's type that can be read without running code, sorted, each with the
    value its class gives it (a plain class attribute answers for an
    instance that lacks the name), and a cell for the last name that
    matched.  Computed once per type."""
    tp = type(obj)
    memo = _inline_memo.get(id(tp))
    if memo is not None and memo[0] is tp:
        return memo
    names = sorted(_candidate_attrs(obj))
    # object.__getattribute__ looks each name up in the class dicts of the
    # MRO: a name that would meet a key other than a str there (the key's
    # __eq__ is user code) is not read.
    class_dicts = [ns for ns in map(_class_dict, _mro(obj)) if ns is not None]
    skip = set(_refchain._colliding_names(names, class_dicts))
    readable = []
    for name in names:
        if name in skip:
            continue
        found, class_value = _class_attr(obj, name)
        if found and _has_get(class_value):
            continue            # a descriptor would run code
        readable.append((name, class_value if found else _MISSING))
    memo = _inline_memo[id(tp)] = (tp, readable, [None])
    return memo


def _inline_attr(obj, child):
    """3.11+: the name of obj's attribute holding child, read from the
    instance's inline values without materialising its __dict__
    (object.__getattribute__ reads inline values in place).  The names are
    guessed from the class's code; None when no guess matches.  The first
    name in sorted order answers; when child is held once, the name that
    answered for the last instance of the type is tried first (a linked
    list's .next), which gives the same answer."""
    _, readable, last = _inline_names(obj)
    refs = gc.get_referents(obj)
    # The instance's __dict__, when it has one, is one of its referents:
    # object.__getattribute__ looks names up there too.
    dicts = [r for r in refs if type(r) is dict]
    skip = set(_refchain._colliding_names([n for n, _ in readable], dicts)) if dicts else ()
    getattribute = object.__getattribute__

    def holds(name, class_value):
        if name in skip or class_value is child:
            return False
        try:
            return getattribute(obj, name) is child
        except Exception:
            return False

    if last[0] is not None and sum(1 for r in refs if r is child) == 1 and holds(*last[0]):
        return last[0][0]
    for name, class_value in readable:
        if holds(name, class_value):
            last[0] = (name, class_value)
            return name
    return None


# ---- one step ------------------------------------------------------------------------


def _after_namespace(ns, nxt, attr_style):
    """Label for the hop namespace dict -> nxt, or None."""
    try:
        key = _dict_find(ns, nxt)
    except KeyError:
        return None
    if attr_style == "attr":
        return "." + _attr_name(key) if type(key) is str else "[%s]" % _key_repr(key)
    if attr_style == "item":
        return "[%s]" % _key_repr(key)
    return "%s %s" % (attr_style, _key_repr(key))


def _collapse_dict(objs, i, label_if_alone, style):
    """parent -> namespace dict (objs[i + 1]) -> value: one step when the
    value is in the dict, else the dict alone."""
    if i + 2 < len(objs):
        label = _after_namespace(objs[i + 1], objs[i + 2], style)
        if label is not None:
            return 2, label
    return 1, label_if_alone


def _label_module(objs, i, edge):
    parent, child = objs[i], objs[i + 1]
    if child is _module_dict(parent):
        return _collapse_dict(objs, i, ".__dict__", "item")
    # Anything else a module refers to is in its C state (m_traverse): before
    # 3.9, atexit's registered callbacks.
    name = _dict_get(_module_dict(parent), "__name__")
    if name == "atexit" and type(name) is str:
        return 1, "<atexit callback>"
    return 1, "<C state of module %s>" % _format.name(name) if type(name) is str else None


def _label_class(objs, i, edge):
    parent, child = objs[i], objs[i + 1]
    if child is _class_dict(parent):
        return _collapse_dict(objs, i, ".__dict__", "attr")
    return None


def _label_function(objs, i, edge):
    parent, child = objs[i], objs[i + 1]
    closure = _func_closure(parent)
    if closure is not None and child is closure:
        if i + 2 < len(objs):
            cell = objs[i + 2]
            idx = _seq_index(closure, cell, -1, tuple.__getitem__, tuple.__len__)
            if idx is not None:
                name = _refchain._freevar_name(_func_code(parent), idx)
                if name is None:
                    name = "#%d" % idx
                try:
                    contents = _cell_contents(cell)
                except ValueError:
                    contents = cell
                if i + 3 < len(objs) and contents is objs[i + 3]:
                    return 3, "closure %r" % name
                return 2, "closure cell %r" % name
        return 1, ".__closure__"
    return None


def _label_cell(objs, i, edge):
    try:
        contents = _cell_contents(objs[i])
    except ValueError:      # an empty cell
        return None
    return (1, ".cell_contents") if contents is objs[i + 1] else None


def _frame_items(frame):
    """[(name, value, is_cell)] of the frame's variables (cells as their
    contents), read in place: reading f_locals would create or refresh the
    snapshot dict that frames keep before 3.13."""
    return _refchain._frame_items(frame)


def _label_frame(objs, i, edge):
    frame, child = objs[i], objs[i + 1]
    nxt = objs[i + 2] if i + 2 < len(objs) else None
    code = _frame_code(frame)
    globals_ = _frame_globals(frame)
    if child is globals_:
        if nxt is not None:
            try:
                return 2, "global %s" % _key_repr(_dict_find(globals_, nxt))
            except KeyError:
                pass
        return 1, ".f_globals"
    if _frame_back(frame) is child:
        return 1, ".f_back"
    if child is code:
        return 1, ".f_code"
    items = _frame_items(frame)
    if items is None:
        return 1, "<local variable>"
    if type(child) is dict and nxt is not None and \
            not any(value is child for _, value, _ in items):
        # Before 3.13, a dict the frame holds that is no variable of it: its
        # f_locals snapshot.
        try:
            return 2, "local %s" % _key_repr(_dict_find(child, nxt))
        except KeyError:
            pass
    return _label_variables(items, child, nxt)


def _label_variables(items, child, nxt):
    """The label of a frame's reference to child (nxt the object after it)
    when child is one of its variables, items as _frame_items gives them;
    None when it is none."""
    plain = [name for name, value, is_cell in items if value is child and not is_cell]
    if plain:
        return 1, "local %s" % _key_repr(plain[0])
    if type(child) is types.CellType:
        # A cell or free variable: the frame holds the cell.
        try:
            contents = _cell_contents(child)
        except ValueError:
            contents = child
        names = [name for name, value, is_cell in items if value is contents and is_cell]
        if names:
            if nxt is not None and nxt is contents:
                return 2, "local %s" % _key_repr(names[0])
            return 1, "cell of local %s" % _key_repr(names[0])
    # A cell variable's slot holds its value itself until the code starts
    # (3.11+: a generator not yet started).
    names = [name for name, value, is_cell in items if value is child and is_cell]
    if names:
        return 1, "local %s" % _key_repr(names[0])
    return None


# The attribute prefix of each kind of generator (gi_frame, cr_frame...).
_GEN_PREFIXES = ((types.GeneratorType, "gi"), (types.CoroutineType, "cr"),
                 (types.AsyncGeneratorType, "ag"))


def _label_generator(objs, i, edge):
    """A generator, coroutine or async generator: its frame object and code,
    and from 3.11 the variables of its frame, which it holds itself (read in
    place: reading gi_frame would create a frame object)."""
    gen, child = objs[i], objs[i + 1]
    nxt = objs[i + 2] if i + 2 < len(objs) else None
    prefix = next((p for tp, p in _GEN_PREFIXES if type(gen) is tp), "gi")
    frame, code, items = _refchain._gen_frame(gen)
    if frame is not None and child is frame:
        return 1, ".%s_frame" % prefix
    if code is not None and child is code:
        return 1, ".%s_code" % prefix
    if items is not None and _PY311:
        return _label_variables(items, child, nxt)
    return None


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


def _label_lru(objs, i, edge):
    wrapper, child = objs[i], objs[i + 1]
    wdict = _lru_wrapper_dict(wrapper)
    if child is wdict:
        return _collapse_dict(objs, i, ".__dict__", "attr")
    refs, start, stride, links, cache, func = _lru_layout(wrapper)
    if cache is not None and refs[cache] is child:
        # The wrapper's own cache dict: key -> result (unbounded caches).
        if i + 2 < len(objs):
            nxt = objs[i + 2]
            try:
                return 2, "[%s]" % _key_repr(_dict_find(child, nxt))
            except KeyError:
                if _dict_has_key(child, nxt):
                    return 2, "cache key"
        return 1, "lru_cache"
    if 0 <= edge < len(refs) and refs[edge] is child and start <= edge < start + stride * links:
        pos = (edge - start) % stride
        if pos == 1:
            return 1, "[%s]" % _key_repr(refs[edge - 1])
        if pos == 0:
            return 1, "cache key"
    if (func is not None and refs[func] is child) or \
            (_is(wdict, dict) and _dict_get(wdict, "__wrapped__") is child):
        # The wrapped callable (sqlite3's statement cache wraps its Connection).
        return 1, ".__wrapped__"
    return None


# An asyncio Future's or Task's fields: (getset of the C classes, label).
# A field is named by its public accessor where there is one, else by the
# private attribute that both implementations (C _asyncio and the
# pure-Python asyncio.futures and asyncio.tasks) have.
_FUTURE_FIELDS = (
    ("_result", ".result()"),
    ("_exception", ".exception()"),
    ("_coro", ".get_coro()"),
    ("_fut_waiter", "._fut_waiter"),
    ("_source_traceback", "._source_traceback"),
    ("_cancel_message", "._cancel_message"),
    ("_loop", ".get_loop()"),
)
# The pure-Python classes keep the same fields as instance attributes:
# their labels as the C classes' read.
_PY_FUTURE_LABELS = dict(("." + name, label) for name, label in _FUTURE_FIELDS)
_PY_FUTURE_LABELS.update({"._callbacks": "done callbacks", "._context": "context",
                          "._name": ".get_name()"})


def _module_class(modname, name):
    """The class `name` of the imported module `modname`, or None; read
    from the module's dict (imports nothing).  Asked for every type a
    chain meets: the namespaces are copied once per describe() call."""
    module = _names(sys.modules).get(modname)
    if not _is(module, types.ModuleType):
        return None
    cls = _names(_module_dict(module)).get(name)
    return cls if _is(cls, type) else None


def _future_class(tp):
    """(kind, class) for a type whose instances are asyncio futures: the
    first of _asyncio.Task, _asyncio.Future (kind "c") and the pure-Python
    asyncio.tasks._PyTask, asyncio.futures._PyFuture (kind "py") in tp's
    MRO; None for any other type."""
    known = ((_module_class("_asyncio", "Task"), "c"), (_module_class("_asyncio", "Future"), "c"),
             (_module_class("asyncio.tasks", "_PyTask"), "py"),
             (_module_class("asyncio.futures", "_PyFuture"), "py"))
    for cls in _type_mro(tp):
        for candidate, kind in known:
            if candidate is not None and cls is candidate:
                return kind, cls
    return None


def _c_future_labeller(cls):
    """The _label_* function for instances of a subclass of the C class cls
    (_asyncio.Future or Task).  Its fields are read through cls's own getset
    descriptors (a subclass's property of the same name is user code)."""
    ns = _class_dict(cls)
    fields = []
    for name, label in _FUTURE_FIELDS:
        desc = _dict_get(ns, name) if ns is not None else None
        if _is_one_of(desc, (_GETSET, _MEMBER)):
            fields.append((label, desc))
    callbacks = _dict_get(ns, "_callbacks") if ns is not None else None
    if not _is_one_of(callbacks, (_GETSET, _MEMBER)):
        callbacks = None
    context_type = _module_class("_contextvars", "Context")
    is_task = cls is _module_class("_asyncio", "Task")

    def label(objs, i, edge):
        fut, child = objs[i], objs[i + 1]
        for text, value in _read(fut, fields):
            if value is child:
                return 1, text
        try:
            # A list of (callback, context) pairs: a new one when the first
            # callback is in a field of its own, the rest in a list.
            pairs = callbacks.__get__(fut) if callbacks is not None else None
        except Exception:
            pairs = None
        if type(pairs) is list:
            if pairs is child:
                return 1, "done callbacks"
            first = list.__getitem__(pairs, 0) if list.__len__(pairs) else None
            if type(first) is tuple and tuple.__len__(first) == 2:
                if tuple.__getitem__(first, 0) is child:
                    return 1, "done callback"
                if tuple.__getitem__(first, 1) is child:
                    return 1, "done callback's context"
            if type(child) is list and list.__len__(child) == list.__len__(pairs) - 1 and \
                    all(a is b for a, b in zip(list.__iter__(child), pairs[1:])):
                return 1, "done callbacks"
        if context_type is not None and type(child) is context_type:
            return 1, "context"
        if is_task and type(child) is str:
            return 1, ".get_name()"         # no other field is a str
        return None

    return label


def _label_py_future(objs, i, edge):
    """The pure-Python Future and Task: their attributes, labelled as the C
    classes' fields read."""
    result = _label_attributes(objs, i, edge)
    if result is None:
        return None
    hops, text = result
    return hops, _PY_FUTURE_LABELS.get(text, text)


def _local_dicts(local):
    """The dict of per-thread dicts of a _thread._local (threading.local):
    the last dict it visits (after the kw dict of its arguments), keyed by
    one object per thread, never a str."""
    dicts = [r for r in gc.get_referents(local) if type(r) is dict]
    if dicts and not any(type(k) is str for k in dict.keys(dicts[-1])):
        return dicts[-1]
    return None


def _label_local(objs, i, edge):
    """threading.local -> its dict of dicts -> one thread's dict -> a value
    reads as one step: '.name in thread T', the thread named from the key
    that stands for it (see _refchain._local_thread)."""
    local, child = objs[i], objs[i + 1]
    if type(child) is not dict or child is not _local_dicts(local):
        return None
    if i + 2 >= len(objs):
        return 1, "per-thread dicts"
    try:
        key = _dict_find(child, objs[i + 2])
    except KeyError:
        return 1, "per-thread dicts"
    thread = _thread_name(_refchain._local_thread(key), escape=str)
    where = " in %s" % thread if thread else " in a thread"
    if type(objs[i + 2]) is dict and i + 3 < len(objs):
        label = _after_namespace(objs[i + 2], objs[i + 3], "attr")
        if label is not None:
            return 3, label + where
    return 2, ".__dict__" + where


def _label_container(objs, i, edge):
    parent, child = objs[i], objs[i + 1]
    if _is(parent, dict):
        try:
            return 1, "[%s]" % _key_repr(_dict_find(parent, child))
        except KeyError:
            if _dict_has_key(parent, child):
                return 1, "key of dict"
        return None
    for base, getitem, length in ((list, list.__getitem__, list.__len__),
                                  (tuple, tuple.__getitem__, tuple.__len__)):
        if _is(parent, base):
            idx = _seq_index(parent, child, edge, getitem, length)
            return None if idx is None else (1, "[%d]" % idx)
    try:
        from collections import deque
    except ImportError:  # pragma: no cover
        deque = None
    if deque is not None and _is(parent, deque):
        for idx, item in enumerate(deque.__iter__(parent)):
            if item is child:
                return 1, "[%d]" % idx
        return None
    if _is(parent, (set, frozenset)):
        it = set.__iter__(parent) if _is(parent, set) else frozenset.__iter__(parent)
        for item in it:
            if item is child:
                return 1, "member"
    return None


def _label_attributes(objs, i, edge):
    """Named fields: slots and builtin members, known getsets, inline values
    (3.11+) and the instance __dict__."""
    parent, child = objs[i], objs[i + 1]
    _, members, getsets, desc = _layout(parent)
    for name, value in _read(parent, members) if members else ():
        if value is child:
            if name == "__dict__" and type(child) is dict:
                return _collapse_dict(objs, i, ".__dict__", "attr")
            return 1, "." + name
    for name, value in _read(parent, getsets) if getsets else ():
        if value is child:
            return 1, "." + name
    if child is type(parent):
        return 1, ".__class__"
    if desc is None:
        return None
    tp = type(parent)
    if _PY311 and _type_flags(tp) & _MANAGED_DICT:
        name = _inline_attr(parent, child)
        if name is not None:
            return 1, "." + name
        if type(child) is not dict:
            # An inline attribute whose name no code spells out: reading
            # __dict__ would create one for this instance, a lasting change.
            return 1, "<attribute>"
        # A dict: the instance's own __dict__, or an attribute of it.
    elif type(child) is not dict:
        return None
    try:
        ns = desc.__get__(parent)
    except Exception:
        return None
    if type(ns) is not dict and not _is(ns, dict):
        return None
    if ns is child:
        return _collapse_dict(objs, i, ".__dict__", "attr")
    try:
        key = _dict_find(ns, child)
    except KeyError:
        return None
    return 1, "." + _attr_name(key)


# id(type) -> (type, handlers) for the duration of one describe() call.
_handlers_memo = {}


def _handlers(parent):
    """The _label_* functions that may name a reference from parent, in the
    order they are tried; they depend on its type alone."""
    tp = type(parent)
    memo = _handlers_memo.get(id(tp))
    if memo is not None and memo[0] is tp:
        return memo[1]
    handlers = []
    if _is(parent, types.ModuleType):
        handlers.append(_label_module)
    if _is(parent, type):
        handlers.append(_label_class)
    if tp is types.FunctionType:
        handlers.append(_label_function)
    if tp is types.FrameType:
        handlers.append(_label_frame)
    if tp is types.CellType:
        handlers.append(_label_cell)
    if tp is types.GeneratorType or tp is types.CoroutineType or tp is types.AsyncGeneratorType:
        handlers.append(_label_generator)
    if _type_name(tp) == "_lru_cache_wrapper":
        handlers.append(_label_lru)
    if _is(parent, (dict, list, tuple, set, frozenset)) or _type_name(tp) == "deque":
        handlers.append(_label_container)
    local = _module_class("_thread", "_local")
    if local is not None and _is(parent, local):
        handlers.append(_label_local)
    future = _future_class(tp)
    if future is not None and future[0] == "c":
        handlers.append(_c_future_labeller(future[1]))
    handlers.append(_label_py_future if future is not None and future[0] == "py"
                    else _label_attributes)
    _handlers_memo[id(tp)] = (tp, handlers)
    return handlers


def _label_step(objs, edges, i):
    """(hops consumed, label) for the step that starts at objs[i]."""
    parent = objs[i]
    edge = edges[i] if i < len(edges) else -1
    tp = type(parent)
    if (tp is list or tp is tuple) and 0 <= edge < len(parent) and parent[edge] is objs[i + 1]:
        # The common case first (a list's referents are its items, in
        # order): what _label_container would say, without its search.
        return 1, "[%d]" % edge
    for handler in _handlers(parent):
        try:
            result = handler(objs, i, edge)
        except Exception:
            result = None
        if result is not None:
            return result
    return 1, _FALLBACK % edge


# ---- roots ---------------------------------------------------------------------------


def _is_main_thread(ident, n_threads):
    """Without importing threading (which, imported from another thread,
    would take that thread for the main one)."""
    import _thread

    get_main = _dict_get(_module_dict(_thread), "_get_main_thread_ident")  # 3.13+
    if type(get_main) is types.BuiltinFunctionType:
        return get_main() == ident
    # Every thread not started through threading runs beside the main one,
    # which is always listed: a lone thread is the main thread.
    return n_threads == 1


def _thread_of(frame):
    """The name of the thread whose stack holds frame, or None."""
    return _thread_name(_refchain._thread_of(frame))


def _thread_name(found, escape=_format.name):
    """'thread NAME' for found, the (thread id, number of threads) of one
    of this interpreter's threads, the name escaped; None for None."""
    if found is None:
        return None
    ident, n_threads = found
    threading = _dict_get(sys.modules, "threading")
    if not _is(threading, types.ModuleType):
        threading = None
    thread = None
    if threading is not None:
        active = _dict_get(_module_dict(threading), "_active")
        if type(active) is dict:
            thread = next((t for k, t in dict.items(active)
                           if type(k) is int and k == ident), None)
    if thread is not None:
        name = _plain_attr(thread, "_name")
        if type(name) is str:
            return "thread %s" % escape(name)
    elif threading is None and _is_main_thread(ident, n_threads):
        # No threading module, so no Thread objects; the main thread is
        # still known by threading's name for it.
        return "thread MainThread"
    return "thread %d" % ident


def _describe_frame(frame):
    code = _frame_code(frame)
    where = "%s() at %s:%d" % (_format.name(code.co_name), _display_path(code.co_filename),
                               _frame_lineno(frame) or 0)
    thread = _thread_of(frame)
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


def _describe_root(kind, root):
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
        return _describe_frame(root)
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
        try:
            root = _describe_root(kind, objs[0])
        except Exception:
            root = "%s %s" % (kind, _tname(objs[0]))
        if kind == "unreachable":
            return (root, ())
        return (root, label_path(objs, chain._edge_indexes))
    finally:
        forget()


def label_path(objs, edges):
    """((object index, label), ...) for the references objs[0] -> objs[1]
    -> ... (edges[i]: the index of objs[i + 1] among objs[i]'s referents).
    One label may span several objects (an instance's __dict__ and the
    attribute in it read '.attr'); the index is where each label ends."""
    steps = []
    shown = {}          # label -> as text shows it (a long chain repeats a few)
    i = 0
    try:
        while i < len(objs) - 1:
            try:
                hops, label = _label_step(objs, edges, i)
            except Exception:
                hops, label = 1, _FALLBACK % (edges[i] if i < len(edges) else -1)
            i += hops
            # A label holds one name (a key, an attribute, a variable).
            text = shown.get(label)
            if text is None:
                text = shown[label] = _format.name(label)
            steps.append((i, text))
    finally:
        forget()
    return tuple(steps)


def _target_info(obj):
    text = "(%d B)" % _refchain._shallow_size(obj)
    site = site_of(obj)
    if site:
        text += ", allocated at %s" % site
    return text


def format_chain(chain):
    """One line: root, then ' → label type' per step, the target's size and
    allocation line last.  A step repeated k times in a row (a nested
    list's '[0] list', a linked list's '.next Node') reads once, as
    '[0] list ×k', as garbage() paths do; the Chain keeps every step."""
    root, steps = chain.root_description, chain.steps
    target = chain.target
    if chain.root_kind == "unreachable":
        return "%s: %s %s" % (root, _tname(target), _target_info(target))
    if not steps:
        return "%s %s" % (root, _target_info(target))
    type_names = {}     # id(type) -> its name as text shows it

    def hop(step):
        obj, label = step
        tp = type(obj)
        name = type_names.get(id(tp))
        if name is None:
            name = type_names[id(tp)] = _tname(obj)
        return "%s %s" % (label, name)

    parts = [root]
    parts.extend(_format.runs(map(hop, steps)))
    del steps
    return " → ".join(parts) + " " + _target_info(target)


def chain_repr(chain):
    """repr() of a Chain: its root's kind, its length and its target's type."""
    try:
        target = chain.target
    except ReferenceError:
        return "<refchain.Chain: cleared by the garbage collector>"
    name = _format.name(_refchain._tp_name(type(target)))
    del target
    return "<refchain.Chain: %s root, %d hops to a %s>" % (chain.root_kind, chain.hops, name)
