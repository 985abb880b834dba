"""An object of a loaded snapshot (a leaf module).

A SnapNode stands for one object of a refchain.Snapshot: its address, type,
size, value and allocation frames as the file recorded them.  The reports
format them with the live formatters, told that they read a snapshot (a
SnapChain has ._snap): a SnapNode may itself be a live object that a live
report describes, so its type alone cannot tell."""


class SnapNode:
    """One object of a snapshot: read-only, and never the live object (the
    process that held it may be gone)."""

    __slots__ = ("_snap", "id", "address", "typename", "tname", "size", "refcount", "flags",
                 "type_flags", "value", "_root", "__weakref__")

    def __init__(self, snap, node_id, row):
        self._snap = snap
        self.id = node_id
        (self.address, self.typename, self.tname, self.size, self.refcount, self.flags,
         self.type_flags, self.value, self._root) = row

    def frames(self):
        """tracemalloc's allocation frames ((file, line), ...), innermost
        first, or None."""
        return self._snap._c.frames(self.id)

    def __eq__(self, other):
        return type(other) is SnapNode and other._snap is self._snap and other.id == self.id

    def __hash__(self):
        return hash((id(self._snap), self.id))

    def __repr__(self):
        return "<%s object at 0x%x in a snapshot>" % (self.typename, self.address)
