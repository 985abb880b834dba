"""refchain: what grew, what keeps it alive, and where it was made.

A CPython heap explorer written in C.  It captures every live object (the
gc-tracked ones *and* the untracked str, bytes, int, float, tuples and dicts
they hold) in one pass, without running Python code while it walks, and
answers questions on that snapshot.

The leak recipe::

    import refchain
    refchain.show_growth()      # baseline
    ...                         # run the code that leaks
    refchain.show_growth()      # what grew since, and (with tracemalloc) where
"""

import sys as _sys


def _free_threaded():
    """Whether this is a free-threaded build (3.13+): its ABI flags say so
    ("t", which no earlier build has); where there are none (Windows),
    sysconfig does, read only there, since importing it adds its modules to
    the heap asked about."""
    flags = getattr(_sys, "abiflags", None)
    if flags is not None:
        return "t" in flags
    if _sys.version_info < (3, 13):
        return False
    import sysconfig
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


if _free_threaded():
    raise ImportError(
        "refchain does not support free-threaded CPython builds (Py_GIL_DISABLED) "
        "yet: a capture needs the heap to stand still, and refchain does not "
        "stop the world.  Use a default (GIL) build of CPython."
    )

from refchain._refchain import (  # noqa: E402
    Census,
    CensusDiff,
    Chain,
    DiffRow,
    Graph,
    ObjectList,
    TypeStat,
    census,
    find_backref_chain,
    find_chain,
    find_ref_chain,
    release_memory,
    retained,
)
from refchain._dominators import Suspect, suspects  # noqa: E402
from refchain._explain import Group, LeakReport, explain, leaks, show_explain  # noqa: E402
from refchain._garbage import (  # noqa: E402
    CollectReport,
    CycleGroup,
    CycleMonitor,
    GarbageReport,
    collect_report,
    cycle_monitor,
    garbage,
)
from refchain._growth import (  # noqa: E402
    by_type,
    count,
    growth,
    new_objects,
    show_growth,
)
from refchain._render import (  # noqa: E402
    show_backrefs,
    show_chain,
    show_dominators,
    show_refs,
)
from refchain._snapshot import DumpProcess, SnapChain, Snapshot, dump, load  # noqa: E402
from refchain._ondemand import dump_on_signal  # noqa: E402
from refchain._node import SnapNode  # noqa: E402
from refchain._leakcheck import Leak, LeakCheckReport, leak_check, no_growth  # noqa: E402
from refchain._objgraph import (  # noqa: E402
    at,
    at_addrs,
    get_leaking_objects,
    get_new_ids,
    is_proper_module,
    most_common_types,
    show_most_common_types,
    typestats,
)
from refchain._sites import set_user_code  # noqa: E402
from refchain._memory import (  # noqa: E402
    MemoryBudgetError,
    MemoryLayers,
    capture,
    memory_layers,
)
from refchain._watch import Trend, Watcher, watch  # noqa: E402
from refchain._wrap import render  # noqa: E402
from refchain._html import report  # noqa: E402
from refchain import _chains, _refchain, _wrap  # noqa: E402

# The package formats and draws the C types; the extension never calls it.
_wrap.attach()
# Data, not a callback: the globals of the package's modules, whose frames
# are the tool's own (imported above, so every module is listed).
_refchain._set_tool_globals(_chains.tool_globals())

__version__ = "0.1.0"

__all__ = [
    "Census",
    "ObjectList",
    "CensusDiff",
    "Chain",
    "CollectReport",
    "CycleGroup",
    "CycleMonitor",
    "DiffRow",
    "GarbageReport",
    "Graph",
    "Group",
    "Leak",
    "LeakCheckReport",
    "LeakReport",
    "MemoryBudgetError",
    "MemoryLayers",
    "SnapChain",
    "SnapNode",
    "Snapshot",
    "Suspect",
    "Trend",
    "TypeStat",
    "Watcher",
    "at",
    "at_addrs",
    "get_leaking_objects",
    "get_new_ids",
    "is_proper_module",
    "most_common_types",
    "show_most_common_types",
    "typestats",
    "by_type",
    "capture",
    "census",
    "collect_report",
    "count",
    "dump",
    "dump_on_signal",
    "DumpProcess",
    "cycle_monitor",
    "explain",
    "find_backref_chain",
    "find_chain",
    "find_ref_chain",
    "garbage",
    "growth",
    "leak_check",
    "leaks",
    "load",
    "memory_layers",
    "new_objects",
    "no_growth",
    "release_memory",
    "render",
    "report",
    "retained",
    "set_user_code",
    "show_backrefs",
    "show_chain",
    "show_dominators",
    "show_explain",
    "show_growth",
    "show_refs",
    "suspects",
    "watch",
]
