"""suspects: the leak-suspects report, from the dominator tree.

Each suspect is an accumulation point of the heap: an object that retains
at least `min_share` of it (what would be freed with it) where the memory
stops being held by one object after another (a module, its __dict__) and
spreads over many (the entries of a cache).  It is an object none of whose
dominated objects retains that much, or a collection whose entries each
may, but none of which holds four fifths of it (a dict of 30 views, each
keeping a 1.5 MiB array).  A suspect inside a listed one is listed after it
only when it holds a fifth of it.  A linked list (each node keeping its data
and the next node) holds its memory one node after another, down to a node
many hops deep: it is named at its head, the node a root reaches first,
as 'in 20,000 linked Request'.  retained(), the tree and the rule come from
the extension (walker/dominators.c)."""

from refchain import _refchain
from refchain._format import human_bytes, name, runs
from refchain._args import _check_limit
from refchain._chains import type_name


class Suspect:
    """One leak suspect: `obj` retains `bytes` in `count` objects, `share`
    of the heap; `chain` is its shortest chain from a root; `accumulated`
    names the type of the objects it holds directly that retain the most
    (`accumulated_count` of them, retaining `accumulated_bytes`), or None.
    `linked` is true when obj heads a linked list, a run of objects each
    holding the next (`.prev`, `.next`): then `accumulated` is obj's type,
    `accumulated_count` the run's objects of that type, obj first, and
    `accumulated_bytes` what obj retains."""

    __slots__ = ("_obj", "bytes", "count", "share", "chain", "accumulated",
                 "accumulated_count", "accumulated_bytes", "linked")

    def __init__(self, obj, nbytes, count, share, chain, accumulated, acc_count, acc_bytes,
                 linked=False):
        # The chain holds obj, as a refchain object, which captures discount:
        # held here too, a Suspect left in a variable would be one more
        # referrer of obj, and its holders would no longer retain it.
        self._obj = None if chain is not None and chain.target is obj else obj
        self.bytes = nbytes
        self.count = count
        self.share = share
        self.chain = chain
        self.accumulated = accumulated
        self.accumulated_count = acc_count
        self.accumulated_bytes = acc_bytes
        self.linked = bool(linked)

    @property
    def obj(self):
        return self.chain.target if self._obj is None else self._obj

    def holder(self):
        """Who holds obj, in words: its type, the chain's root and the hops
        from it (the last hop's label only: the type is said first).  A hop
        repeated k times in a row reads once, 'hop ×k', as in str(chain)."""
        chain = self.chain
        node = getattr(chain, "_snap", None) is not None
        if chain.root_kind == "unreachable":
            return "%s (unreachable)" % type_name(self.obj, node)
        steps = chain.steps
        if not steps:
            return chain.root_description
        parts = [chain.root_description]
        parts.extend(runs("%s %s" % (label, type_name(obj, node)) for obj, label in steps[:-1]))
        parts.append(steps[-1][1])
        return "%s held by %s" % (type_name(self.obj, node), " \u2192 ".join(parts))

    def __str__(self):
        text = "%s retains %s (%.0f%% of the heap)" % (
            self.holder(), human_bytes(self.bytes), 100.0 * self.share)
        if self.accumulated is not None:
            text += " in {:,} {}{}".format(self.accumulated_count,
                                           "linked " if self.linked else "",
                                           name(self.accumulated))
        return text

    def __repr__(self):
        node = getattr(self.chain, "_snap", None) is not None
        return "<refchain.Suspect: %s retains %s (%.0f%%), %d objects>" % (
            type_name(self.obj, node), human_bytes(self.bytes), 100.0 * self.share, self.count)


def suspects(limit=10, min_share=0.01):
    """The leak suspects, the largest first: up to `limit` objects each
    retaining at least `min_share` (0..1) of the heap where the memory
    spreads (see the module's docstring and Suspect); a container comes
    before the entries of it listed too.  Print them one per line."""
    limit, min_share = _check_args(limit, min_share)
    heap, raw = _refchain._suspects(min_share, limit)
    return _suspects(heap, raw)


def _check_args(limit, min_share):
    """suspects()' arguments, checked: (limit, min_share as a float)."""
    limit = _check_limit(limit, "suspects")
    if isinstance(min_share, bool) or not isinstance(min_share, (int, float)):
        raise TypeError("suspects() argument 'min_share' must be a number, not %s"
                        % type(min_share).__name__)
    if not 0.0 <= min_share <= 1.0:
        raise ValueError("suspects() argument 'min_share' must be between 0 and 1, got %r"
                         % (min_share,))
    return limit, float(min_share)


def _suspects(heap, raw):
    """Suspects from _suspects' raw answer (live, or a snapshot's with its
    chains made)."""
    return [Suspect(obj, nbytes, count, nbytes / heap if heap else 0.0, chain, top, tc, tb,
                    linked)
            for obj, nbytes, count, chain, top, tc, tb, linked in raw]
