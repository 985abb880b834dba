"""Describing chains for people: edge labels and root descriptions.

Runs after the capture, on objects a Chain holds strongly, so it may call
Python code; it still avoids calling user code (no repr() of user objects,
no properties)."""


def tool_globals():
    """The globals dicts of refchain's own modules."""
    import sys

    return tuple(vars(m) for name, m in sorted(sys.modules.items())
                 if m is not None and (name == "refchain" or name.startswith("refchain.")))


def describe(chain):
    """(root description, ((object index, label), ...)) for a Chain."""
    objs = chain.objects
    steps = tuple((i, "") for i in range(1, len(objs)))
    return (chain.root_kind, steps)


def format_chain(chain):
    return "%s: %s" % (chain.root_kind, " -> ".join(type(o).__name__ for o in chain.objects))
