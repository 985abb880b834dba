"""Reading objects without running user code: type and class names as
text shows them, and a class's namespace, a module's dict, a function's or
a frame's fields read through the trusted descriptors of built-in types (a
leaf module: every report and drawing asks here, and it imports nothing of
the package but the leaf _format).

Types are compared with `is` (`==` and `in (...)` call a metaclass's
__eq__), and names are looked up in dicts by exact-str keys only (a dict's
own lookup calls the __eq__ of a key whose hash collides)."""

import gc
import types

from refchain import _format, _refchain

_HEAPTYPE = 1 << 9

# Trusted descriptors of `type` itself: reading a class's name, flags and
# MRO through them runs no metaclass code.
_type_name_strict = type.__dict__["__name__"].__get__
_type_qualname_strict = type.__dict__["__qualname__"].__get__
_type_module = type.__dict__["__module__"].__get__


def _type_name(cls):
    """cls.__name__, or for a C type whose tp_name is not UTF-8 the same
    with the bad bytes replaced (as the census shows it)."""
    try:
        return _type_name_strict(cls)
    except UnicodeDecodeError:
        return _refchain._tp_name(cls).rpartition(".")[2]


def _type_qualname(cls):
    try:
        return _type_qualname_strict(cls)
    except UnicodeDecodeError:
        return _refchain._tp_name(cls).rpartition(".")[2]


_type_flags = type.__dict__["__flags__"].__get__
_type_mro = type.__dict__["__mro__"].__get__
_type_dict_proxy = type.__dict__["__dict__"].__get__
_module_dict = types.ModuleType.__dict__["__dict__"].__get__
_func_code = types.FunctionType.__dict__["__code__"].__get__
_func_closure = types.FunctionType.__dict__["__closure__"].__get__
_func_module = types.FunctionType.__dict__["__module__"].__get__
_func_qualname = types.FunctionType.__dict__["__qualname__"].__get__
_cell_contents = types.CellType.__dict__["cell_contents"].__get__
_frame_globals = types.FrameType.__dict__["f_globals"].__get__
_frame_code = types.FrameType.__dict__["f_code"].__get__
_frame_back = types.FrameType.__dict__["f_back"].__get__
_frame_lineno = types.FrameType.__dict__["f_lineno"].__get__

_MEMBER = types.MemberDescriptorType
_GETSET = types.GetSetDescriptorType


def _is(obj, cls):
    """isinstance() without consulting obj.__class__ (which may be a property)."""
    return issubclass(type(obj), cls)


def _is_one_of(obj, classes):
    """type(obj) is one of classes: `type(obj) in classes` would call a
    metaclass's __eq__."""
    tp = type(obj)
    for cls in classes:
        if tp is cls:
            return True
    return False


_MISSING = object()


def _dict_get(d, name, default=None):
    """d[name] for a str name, or default, without calling any user code:
    d's own lookup calls the __eq__ of a key whose hash collides with the
    name's.  Only keys that are exact strs match."""
    for k, v in dict.items(d):
        if type(k) is str and k == name:
            return v
    return default


def _tname(obj):
    """The name of obj's type as text shows it (escaped and bounded)."""
    return _format.name(_type_name(type(obj)))


def _class_module(cls):
    """cls.__module__: type's own getter looks it up in a heap type's dict,
    where a colliding key would have its __eq__ called."""
    if _type_flags(cls) & _HEAPTYPE:
        ns = _class_dict(cls)
        return _dict_get(ns, "__module__") if ns is not None else None
    return _type_module(cls)


def _class_name(cls):
    """module.qualname of a class as text shows it (escaped and bounded)."""
    try:
        module = _class_module(cls)
        qualname = _type_qualname(cls)
    except Exception:
        return _format.name(_type_name(cls))
    if type(module) is not str or module == "builtins":
        return _format.name(qualname)
    return "%s.%s" % (_format.name(module), _format.name(qualname))


def _mro(obj):
    try:
        return _type_mro(type(obj))
    except Exception:
        return (type(obj),)


def _class_dict(cls):
    """A class's real namespace dict (the one its mappingproxy wraps)."""
    for r in gc.get_referents(_type_dict_proxy(cls)):
        if type(r) is dict:
            return r
    return None


def _dict_descriptor(obj):
    """The descriptor that yields obj's __dict__ (C code), or None."""
    for cls in _mro(obj):
        ns = _class_dict(cls)
        desc = _dict_get(ns, "__dict__") if ns is not None else None
        if desc is not None:
            return desc if _is_one_of(desc, (_GETSET, _MEMBER)) else None
    return None
