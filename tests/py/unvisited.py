"""The one reference CPython 3.13 holds that gc.get_referents() hides, for
the tests' independent walks (the oracles).

On 3.13 an instance keeps its attributes inline, after the object.  Reading
its __dict__ (dir() does) makes a dict that shares those values, and while
the inline values stay valid tp_traverse visits them and not the dict,
although the instance holds a strong reference to it.  The capture follows
that reference (walker/pycompat.c, rc_unvisited_dict); an oracle must too.
This reads the same private layout with ctypes, so the oracle stays
independent of refchain's code.  Import it before the census: on 3.13 it
imports ctypes, whose metatypes the census sizes as a lower bound (refchain
calls no __sizeof__ it does not know), and struct."""

import sys

_ACTIVE = sys.version_info[:2] == (3, 13) and sys.implementation.name == "cpython"
if _ACTIVE:
    import ctypes
    _WORD = ctypes.sizeof(ctypes.c_void_p)
_MANAGED_DICT = 1 << 4      # Py_TPFLAGS_MANAGED_DICT
_INLINE_VALUES = 1 << 2     # Py_TPFLAGS_INLINE_VALUES (3.13)


def lower_bound_ok(name):
    """Whether a census row may size type `name` as a lower bound: the
    types whose __sizeof__ refchain refuses to call that a test heap has."""
    return name in ("_struct.Struct", "Struct") or name.startswith(("_ctypes.", "ctypes."))


def _unvisited_dict(o):
    """o's materialised __dict__ when gc.get_referents(o) leaves it out, else None."""
    tp = type(o)
    if tp.__flags__ & (_MANAGED_DICT | _INLINE_VALUES) != _MANAGED_DICT | _INLINE_VALUES:
        return None
    # struct _dictvalues {capacity, size, embedded, valid; values...} at tp_basicsize
    if not ctypes.c_uint8.from_address(id(o) + tp.__basicsize__ + 3).value:
        return None
    dict_ptr = ctypes.c_void_p.from_address(id(o) - 3 * _WORD).value   # MANAGED_DICT_OFFSET
    return ctypes.cast(dict_ptr, ctypes.py_object).value if dict_ptr else None


# None where no such dict exists: an oracle then calls nothing per object
# (before 3.11 a function called often enough grows its code object's
# opcache, which the census would already have counted smaller).
unvisited_dict = _unvisited_dict if _ACTIVE else None
