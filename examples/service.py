"""A small request handler with two leaks, the kind a service accumulates.

1. `render()` memoises every rendered page in a module-level dict keyed by
   request id.  The ids never repeat, so the cache only grows.  The values are
   bytes and the keys ints: objects the cyclic GC does not track, so
   gc-based tools (objgraph.show_growth) do not see this leak at all.
2. Every `Session` registers itself in a class-level list and is never
   removed.

`fixed_handle()` is the same handler with both leaks fixed.
"""

_PAGES = {}


class Session:
    active = []

    def __init__(self, user, register=True):
        self.user = user
        self.history = []
        if register:
            Session.active.append(self)


def render(request_id):
    page = _PAGES.get(request_id)
    if page is None:
        page = ("<html>request %d</html>" % request_id).encode().ljust(1024)
        _PAGES[request_id] = page
    return page


def handle(request_id):
    session = Session("user%d" % (request_id % 97))
    session.history.append(request_id)
    return len(render(request_id))


_RECENT = {}


def fixed_handle(request_id):
    session = Session("user%d" % (request_id % 97), register=False)
    session.history.append(request_id)
    if len(_RECENT) >= 100:          # a bounded cache
        _RECENT.clear()
    page = _RECENT.setdefault(request_id, render_page(request_id))
    return len(page)


def render_page(request_id):
    return ("<html>request %d</html>" % request_id).encode().ljust(1024)
