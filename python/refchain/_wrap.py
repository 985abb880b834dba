"""The top floor of the package: the text and pictures of the C types, and
render(), the one call that draws every kind of answer.

The extension (refchain._refchain) captures, answers and holds results; it
never imports or calls this package.  Instead the package puts its
formatting and drawing on the C types here, once, at import: a Chain's
str(), repr(), root_description, steps, len() and _repr_svg_ (Jupyter's
picture), and the mapping protocol, reprs and str() tables of Census and
CensusDiff (refchain._census, refchain._format).

Why set attributes on the C types rather than subclass them: the C
questions make instances of their own types, so a Python subclass would
need the extension to know it (a class handed to C and called from C, the
very call upward this avoids).  The C types are heap types, which accept
new attributes: refchain.Chain stays the one type C makes, so
type(chain).__name__, isinstance() checks and the refusal to pickle (no
__dict__, no __reduce__) are unchanged."""

from refchain import _census, _chains, _format, _refchain, _render
from refchain._explain import Group


def _describe(chain):
    """Describe chain the first time it is asked (refchain._chains.describe
    runs no user code).  The text is kept in the Chain as C data: a Python
    object a result held would show in later captures."""
    if chain._root_description is None:
        chain._set_description(*_chains.describe(chain))


def _root_description(chain):
    _describe(chain)
    return chain._root_description


def _steps(chain):
    _describe(chain)
    return chain._steps


def _len(chain):
    return len(_steps(chain))


def render(what, format="svg", *, refs=False, max_depth=3, extra_ignore=(), filter=None,
           too_many=10, max_nodes=_render.MAX_NODES, repr=False):
    """Draw `what` and return the bytes of the picture.

    `what` is a Chain (find_chain's answer), a Group or a list of Groups
    (explain's answer: one collapsed graph), or a list of objects: their
    referrers (as show_backrefs draws them) or, with refs=True, their
    references (as show_refs does).  `format` is 'svg', 'png', 'pdf' or
    'dot' ('gv').  max_nodes caps the number of objects drawn."""
    fmt = _render._check_format(format, "render")
    max_nodes = _render._check_int(max_nodes, "max_nodes", "render", 1)
    if isinstance(what, _refchain.Chain):
        d = _render._chain_drawing(what, repr, max_nodes)
    elif isinstance(what, Group):
        d = _render._groups_drawing([what], repr, max_nodes)
    elif isinstance(what, (list, tuple)) and what and all(isinstance(g, Group) for g in what):
        d = _render._groups_drawing(list(what), repr, max_nodes)
    elif isinstance(what, (list, tuple)):
        d = _render._hood_drawing(what, not refs, max_depth, extra_ignore, filter, too_many,
                                  max_nodes, repr, "render")
    else:
        raise TypeError("render() needs a Chain, a Group, a list of Groups or a list of "
                        "objects, not %s (for one object, pass [obj])" % type(what).__name__)
    return d.render(fmt)


def attach():
    """Put the package's text and pictures on the C types (once, from
    refchain/__init__.py)."""
    chain = _refchain.Chain
    chain.__str__ = _chains.format_chain
    chain.__repr__ = _chains.chain_repr
    chain.__len__ = _len
    chain.root_description = property(_root_description, doc="The root, in words.")
    chain.steps = property(_steps, doc="[(object, label)] from the root to the target.")
    chain._repr_svg_ = _render.chain_svg
    census = _refchain.Census
    for name in ("__getitem__", "__contains__", "__iter__", "get", "keys", "values", "items",
                 "top"):
        setattr(census, name, getattr(_census, name))
    census.__repr__ = _census.census_repr
    census.__str__ = _format.census_table
    _refchain.CensusDiff.__repr__ = _census.diff_repr
    _refchain.CensusDiff.__str__ = _format.diff_table
