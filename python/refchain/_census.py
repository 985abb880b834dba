"""The mapping side of refchain.Census, and the reprs of Census and
CensusDiff: functions that refchain._wrap.attach() sets on the C types.

The C type keeps what needs the C census: len(), one row by name
(census._row(name): a TypeStat, or None when no type has that name or the
name is not a str), the names (census._names(by_count): sorted by name, or
the most numerous first), total, == and census_b - census_a.  Everything
here is built on those and keeps nothing: a Census stays a C object that
captures leave out, so holding one never shows up as growth.

A leaf module: it imports nothing from the package."""


def __getitem__(self, name):
    stat = self._row(name)
    if stat is None:
        raise KeyError(name)
    return stat


def __contains__(self, name):
    return self._row(name) is not None


def __iter__(self):
    return iter(self._names(False))


def get(self, name, default=None, /):
    """get(name, default=None) -> TypeStat or default"""
    stat = self._row(name)
    return default if stat is None else stat


def keys(self):
    """keys() -> list of type names, sorted"""
    return self._names(False)


def values(self):
    """values() -> list of TypeStat"""
    return [self._row(name) for name in self._names(False)]


def items(self):
    """items() -> list of (name, TypeStat)"""
    return [(name, self._row(name)) for name in self._names(False)]


def top(self, n=10):
    """top(n=10) -> [(name, count, bytes)], the most numerous types first"""
    if n is not None:
        if type(n) is bool or not issubclass(type(n), int):
            raise TypeError("top() argument 'n' must be int or None, not %.100s"
                            % type(n).__name__)
        n = int.__index__(n)     # an int subclass's own methods are not called
        if n < 0:
            raise ValueError("top() argument 'n' must be >= 0")
    return [(name, stat.count, stat.bytes)
            for name in self._names(True)[:n] for stat in (self._row(name),)]


def census_repr(self):
    total = self.total
    return "<refchain.Census: %d objects, %d bytes, %d types>" % (total.count, total.bytes,
                                                                   len(self))


def diff_repr(self):
    return "<refchain.CensusDiff: %d types changed>" % len(self)
