"""A synthetic service heap for the benchmarks: about `n` objects of the
kinds a leaking web service holds.

Each unit is about 21 objects: a request with a __dict__ (path str, status
int, headers dict holding a list, body bytes), a session whose list holds two
__slots__ points of floats, a cache entry (int key -> untracked tuple of
bytes and float), and, every tenth unit, a two-object reference cycle.
About 40% of the objects are gc-tracked, as in the interpreter's own heap;
the rest are untracked payloads (str, bytes, int, float, atomic tuples) that
gc-based tools never see.  `python3 bench/heap.py N` prints the make-up.
"""

import sys

OBJECTS_PER_UNIT = 21


class Request:
    def __init__(self, i):
        self.path = "/api/v1/items/%d" % i
        self.status = 1000 + i
        self.headers = {"host": "h%d.example" % i, "accept": ["text/%d" % i]}
        self.body = b"x" * (64 + i % 64)


class Point:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y


class Session:
    def __init__(self, i):
        self.user = "user%d" % i
        self.items = [Point(i + 0.5, i + 1.5), Point(i + 2.5, i + 3.5)]


class Node:
    def __init__(self):
        self.peer = None


def build(n):
    """Return a root holding about n new objects."""
    units = []
    cache = {}
    for i in range(max(1, n // OBJECTS_PER_UNIT)):
        unit = [Request(i), Session(i)]
        cache[10 ** 6 + i] = (bytes(16 + i % 16), i + 0.25)
        if i % 10 == 0:
            a, b = Node(), Node()
            a.peer, b.peer = b, a
            unit.append(a)
        units.append(unit)
    return [units, cache]


PAYLOAD_OBJECTS_PER_UNIT = 10


class Record:
    __slots__ = ("blob", "row", "tags")

    def __init__(self, blob, row, tags):
        self.blob = blob
        self.row = row
        self.tags = tags


def build_payload_heavy(n):
    """Return a root holding about n new objects, about 80% of them untracked
    payloads.  Each unit is 10 objects: an int-keyed bytes cache entry (int,
    bytes), a str-keyed float index entry (str, float), an atomic row tuple
    (tuple, int, str, float; the collector untracks it), and a __slots__
    Record pointing at them with a one-item tags list (the 2 tracked ones)."""
    cache = {}
    index = {}
    records = []
    for i in range(max(1, n // PAYLOAD_OBJECTS_PER_UNIT)):
        blob = bytes(32 + i % 32)
        cache[10 ** 7 + i] = blob
        label = "item-%d" % i
        index[label] = i + 0.5
        row = (2 * 10 ** 7 + i, "row-%d" % i, i * 0.25)
        records.append(Record(blob, row, [label]))
    return [cache, index, records]


if __name__ == "__main__":
    import gc

    gc.collect()
    tracked0 = len(gc.get_objects())
    import refchain

    total0 = len(refchain.capture())
    heap = build(int(sys.argv[1]) if len(sys.argv) > 1 else 100000)
    gc.collect()
    tracked = len(gc.get_objects()) - tracked0
    total = len(refchain.capture()) - total0
    print("objects added: %d, gc-tracked: %d (%.0f%%)" % (total, tracked, 100.0 * tracked / total))
