"""Text formatting for reports: byte counts and the census/diff tables."""


def human_bytes(n, sign=False):
    """1057 -> '1057 B', 10813440 -> '10.3 MiB'; with sign, '+1057 B'."""
    prefix = ("+" if n >= 0 else "-") if sign else ("-" if n < 0 else "")
    n = abs(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            break
        n /= 1024.0
    text = "%d %s" % (n, unit) if unit == "B" else "%.1f %s" % (n, unit)
    return prefix + text


def at_least(text, row):
    """'>=' before a byte count that is a lower bound: some of the row's
    objects have a __sizeof__ refchain does not call (see TypeStat)."""
    return (">=" + text) if getattr(row, "bytes_lower_bound", False) else text


def growth_lines(rows):
    """One aligned line per (name, count, delta, bytes_delta) row."""
    rows = list(rows)
    if not rows:
        return []
    width = max(len(r[0]) for r in rows)
    return [
        "%-*s %10d %+10d %12s" % (width, row[0], row[1], row[2],
                                  at_least(human_bytes(row[3], sign=True), row))
        for row in rows
    ]


def table(obj):
    """str() of a Census (its 10 largest types), a CensusDiff or a Chain."""
    from refchain._refchain import Census, Chain

    if isinstance(obj, Chain):
        from refchain._chains import format_chain

        return format_chain(obj)
    if isinstance(obj, Census):
        top = obj.top(10)
        if not top:
            return "(no objects)"
        width = max(len(name) for name, _, _ in top)
        lines = ["%-*s %10d %12s" % (width, name, n, at_least(human_bytes(b), obj.get(name)))
                 for name, n, b in top]
        total = obj.total
        lines.append(
            "%-*s %10d %12s" % (width, "(total, %d types)" % len(obj), total.count,
                                at_least(human_bytes(total.bytes), total))
        )
        return "\n".join(lines)
    lines = growth_lines(obj)
    return "\n".join(lines) if lines else "(no change)"
