"""refchain's demo: a leaking service diagnosed end to end.

Run it with ./run demo (or PYTHONPATH=build/<tag>/python python3 examples/leaky_service.py).
"""

import io
import os
import sys
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
tracemalloc.start()            # so refchain can say where objects were made

import refchain                # noqa: E402
import service                 # noqa: E402


def banner(text):
    print("\n== " + text)


# 1. Warm up, so that one-time allocations (imports, caches) are not growth.
for i in range(100):
    service.handle(i)

# 2. Baseline: the first show_growth() call counts everything from zero.
refchain.show_growth(file=io.StringIO())

# 3. The load that leaks.
for i in range(100, 10100):
    service.handle(i)

banner("What grew during 10,000 requests (refchain.show_growth)")
refchain.show_growth(limit=5)

banner("What keeps them alive (refchain.find_chain, refchain.show_explain)")
print(refchain.find_chain(service._PAGES[5000]))
print(refchain.find_chain(service.Session.active[-1]))
refchain.show_explain("Session", limit=2)

banner("objgraph.show_growth() on the same program sees only part of it")
try:
    import objgraph
except ImportError:
    print("(objgraph is not installed: apt-get install python3-objgraph)")
else:
    objgraph.show_growth(limit=5, file=io.StringIO())   # its baseline
    for i in range(10100, 20100):
        service.handle(i)
    objgraph.show_growth(limit=5)
    refchain.show_growth(limit=5, file=io.StringIO())   # keep ours in step
    print("(the cached bytes pages and their int keys are missing: they are untracked)")

banner("The fix: a bounded cache and no session registry (service.fixed_handle)")
service.Session.active.clear()
service._PAGES.clear()
for i in range(100):
    service.fixed_handle(i)                             # warm up the fixed path
refchain.show_growth(file=io.StringIO())                # new baseline
for i in range(20100, 30100):
    service.fixed_handle(i)
out = io.StringIO()
refchain.show_growth(file=out)
grown = [line for line in out.getvalue().splitlines() if not line.startswith("(")]
print("after 10,000 more requests: " + ("nothing grew" if not grown else "\n" + "\n".join(grown)))

banner("Pictures for the write-up (refchain.show_chain, refchain.show_explain(filename=))")
for i in range(30100, 31100):
    service.handle(i)                                   # the leaky handler, once more
pictures = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "build", "demo")
os.makedirs(pictures, exist_ok=True)
chain = refchain.find_chain(service._PAGES[31000])
print(chain)
print("the chain:        " + os.path.relpath(
    refchain.show_chain(chain, filename=os.path.join(pictures, "chain.svg"))))
groups = refchain.explain(bytes, limit=1) + refchain.explain(service.Session, limit=1)
print("the grouped leak: " + os.path.relpath(
    refchain.show_explain(groups, filename=os.path.join(pictures, "leaks.svg"))))
