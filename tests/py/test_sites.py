"""Allocation lines name the user's own code, with the library's line
beside it."""

import json

from conftest import line_of

LOGGERS = """
    import json, logging, tracemalloc
    tracemalloc.start(25)
    import refchain

    def handle(i):
        return logging.getLogger("req.%d" % i)      # the user's line

    refchain.show_growth(limit=0)
    for i in range(300):
        handle(i)
"""


def test_a_library_allocation_names_the_users_line(run_script):
    out = run_script(LOGGERS + """
    refchain.show_growth(limit=3)
    groups = [g for g in refchain.explain(logging.Logger) if g.count >= 300]
    print(json.dumps(groups[0].lines))
    print(refchain.find_chain(logging.getLogger("req.7")))
    """, name="svc.py").stdout.splitlines()
    user = "svc.py:%d" % line_of(LOGGERS, "the user's line")
    growth = [line.strip() for line in out if line.strip().startswith("+300 at")]
    assert growth and growth[0].startswith("+300 at %s (via " % user)
    assert "logging" in growth[0] and growth[0].endswith(")")
    [[n, site]] = json.loads(out[-2])
    assert n == 300 and site.startswith(user + " (via ")
    assert ", allocated at %s (via " % user in out[-1]


def test_the_user_chooses_what_their_code_is(run_script):
    # Counting logging as "their" code makes logging's own line the answer,
    # and a predicate that accepts nothing falls back to the innermost line.
    out = run_script(LOGGERS + """
    import os
    refchain.set_user_code([os.path.dirname(logging.__file__)])
    lib = refchain.explain(logging.Logger)[0].lines
    refchain.set_user_code(lambda filename: False)
    none = refchain.explain(logging.Logger)[0].lines
    refchain.set_user_code(None)
    default = refchain.explain(logging.Logger)[0].lines
    try:
        refchain.set_user_code("/a/single/path")
    except TypeError as e:
        print(json.dumps([lib, none, default, str(e)]))
    """, name="svc.py").stdout
    lib, none, default, error = json.loads(out)
    assert "logging" in lib[0][1] and " (via " not in lib[0][1]
    assert none[0][1] == lib[0][1]
    assert default[0][1].startswith("svc.py:")
    assert "list of directories" in error
