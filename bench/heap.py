"""A synthetic service heap for the benchmarks: about `n` objects of the
kinds a leaking web service holds.

Each unit is about 21 objects: a request with a __dict__ (path str, status
int, headers dict holding a list, body bytes), a session whose list holds two
__slots__ points of floats, a cache entry (int key -> untracked tuple of
bytes and float), and, every tenth unit, a two-object reference cycle.
About 40% of the objects are gc-tracked, as in the interpreter's own heap;
the rest are untracked payloads (str, bytes, int, float, atomic tuples) that
gc-based tools never see.  `python3 bench/heap.py N [service|payload|django]`
prints the make-up.
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


DJANGO_OBJECTS_PER_UNIT = 15


class Article:
    """A model instance: a __dict__ of 8 fields, as a Django model has
    (its _state is a small dict here, a ModelState object there)."""

    def __init__(self, i):
        self.id = 3 * 10 ** 7 + i
        self.title = "title-%d" % i
        self.slug = "article-%d" % i
        self.created = i + 0.125
        self.is_published = i % 2 == 0
        self.author_id = 4 * 10 ** 7 + i
        self._state = {"db": "default", "adding": False}
        self.extra = {"lang": "en-%d" % (i % 7)}


def build_django(n):
    """Return a root holding about n new objects as a Django-style service
    holds them.  Each unit is 15 objects: a model instance with a __dict__
    of 8 fields (two ints, two strs, a float, a bool, a _state dict and an
    extra dict holding one of 7 shared strs), a template context (a small dict: the
    instance and a path str), and a queryset row (an atomic tuple of an int
    and two strs; the collector untracks it) in a list of 10 rows per
    queryset, the querysets in a str-keyed cache.  About 16% of its objects
    are gc-tracked on 3.11 (dicts of atomics and atomic tuples are not)."""
    contexts = []
    querysets = {}
    rows = None
    for i in range(max(1, n // DJANGO_OBJECTS_PER_UNIT)):
        article = Article(i)
        contexts.append({"object": article, "path": "/articles/%d/" % i})
        if i % 10 == 0:
            rows = []
            querysets["qs-%d" % (i // 10)] = rows
        rows.append((5 * 10 ** 7 + i, "Title %d" % i, "author-%d" % i))
    return [contexts, querysets]


BUILDERS = {"service": build, "payload": build_payload_heavy, "django": build_django}


if __name__ == "__main__":
    import gc

    gc.collect()
    tracked0 = len(gc.get_objects())
    import refchain

    total0 = len(refchain.capture())
    heap = BUILDERS[sys.argv[2] if len(sys.argv) > 2 else "service"](
        int(sys.argv[1]) if len(sys.argv) > 1 else 100000)
    gc.collect()
    tracked = len(gc.get_objects()) - tracked0
    total = len(refchain.capture()) - total0
    print("objects added: %d, gc-tracked: %d (%.0f%%)" % (total, tracked, 100.0 * tracked / total))
