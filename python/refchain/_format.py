"""Text formatting for reports: byte counts, names, and the census/diff
tables (a leaf module: it imports nothing of the package)."""

import itertools

# The longest name (type, key, attribute, file...) a report spells out.
NAME_MAX = 200


class _Escapes(dict):
    """{code point: its escape} for what a terminal would act on instead of
    showing: C0 controls, DEL, C1 controls, lone surrogates (unprintable),
    the Unicode line and paragraph separators, and the bidirectional
    controls that reorder what follows.  A str.translate() table: one
    pass in C, and no regular expression for the package to import.  The
    2,048 surrogates are escaped as they are met, not held: a full table
    was 240 KiB of refchain's own in every heap it reported on."""

    def __init__(self):
        super().__init__((c, "\\x%02x" % c) for c in list(range(0x20)) + list(range(0x7F, 0xA0)))
        self.update((c, "\\u%04x" % c) for c in [0x061C, 0x200E, 0x200F]
                    + list(range(0x2028, 0x202F)) + list(range(0x2066, 0x206A)))
        self.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})

    def __missing__(self, c):
        if 0xD800 <= c < 0xE000:
            return "\\u%04x" % c
        raise LookupError(c)            # str.translate() leaves the character as it is


_ESCAPES = _Escapes()


def name(text, limit=NAME_MAX):
    """text (a name from the heap: a type's, a key, an attribute, a file) as
    a report shows it: each control character escaped (ESC reads `\\x1b`,
    a newline `\\n`), and past `limit` characters cut, with an ellipsis
    and the number of characters left out.  Applied where a name enters
    text, never to the names reports hold as data."""
    if len(text) <= limit and text.isprintable():
        return text
    cut = len(text) - limit if len(text) > limit else 0
    if cut:
        text = text[:limit]
    text = text.translate(_ESCAPES)
    return text + "\u2026(%d more characters)" % cut if cut else text


UNNAMED_PREFIX = "<referent #"


def positional(label):
    """What a group's path reads for a reference known only by its place,
    which grouping folds as it folds a collection's items (refchain/paths.h):
    `<referent #k>` (nothing names it) reads `<referent #*>`, and a bare
    index `[k]` (a C container's item, such as a queue.SimpleQueue's) `[*]`.
    None for any other label."""
    if label.startswith(UNNAMED_PREFIX) and label.endswith(">"):
        return UNNAMED_PREFIX + "*>"
    if len(label) > 2 and label[0] == "[" and label[-1] == "]" and label[1:-1].isdigit() \
            and label[1:-1].isascii():
        return "[*]"
    return None


def runs(hops):
    """The hops of a path as text parts, a hop repeated k times in a row
    read once as 'hop ×k' (a nested list's '[0] list ×999999')."""
    for hop, run in itertools.groupby(hops):
        n = sum(1 for _ in run)
        yield hop if n == 1 else "%s ×%d" % (hop, n)


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
    names = [name(r[0]) for r in rows]
    width = max(len(n) for n in names)
    return [
        "%-*s %10d %+10d %12s" % (width, n, r[1], r[2],
                                  at_least(human_bytes(r[3], sign=True), r))
        for n, r in zip(names, rows)
    ]


def census_table(census):
    """str() of a Census: its 10 largest types and the total."""
    top = census.top(10)
    if not top:
        return "(no objects)"
    shown = [(name(t), n, b, census.get(t)) for t, n, b in top]
    width = max(len(t) for t, _, _, _ in shown)
    lines = ["%-*s %10d %12s" % (width, t, n, at_least(human_bytes(b), stat))
             for t, n, b, stat in shown]
    total = census.total
    lines.append(
        "%-*s %10d %12s" % (width, "(total, %d types)" % len(census), total.count,
                            at_least(human_bytes(total.bytes), total))
    )
    return "\n".join(lines)


def diff_table(diff):
    """str() of a CensusDiff: one aligned line per changed type."""
    lines = growth_lines(diff)
    return "\n".join(lines) if lines else "(no change)"


def short(text, limit):
    """text cut to `limit` characters, the last one an ellipsis."""
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"
