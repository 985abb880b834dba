"""refchain's own imports and state stay out of the answers: `import
refchain` adds only small modules of the standard library, and a report or
another question adds nothing that a later question counts as new or names
as a holder (docs/guide.md, "What refchain imports")."""

import ast
import sys

# What `import refchain` may add to a fresh interpreter (less where the
# interpreter imported some at its start).  Not logging, json, pickle,
# lzma, sysconfig, tempfile, re, html, argparse, subprocess: those came
# with it once and showed up as leak suspects and as holders of "new"
# objects in the user's answers.
ALLOWED = {
    # the core's own needs
    "atexit", "collections", "collections.abc", "contextlib", "errno", "functools", "gc",
    "itertools", "keyword", "operator", "reprlib", "threading", "types", "weakref",
    # small C modules used in place of the packages above them
    "_collections", "_functools", "_operator", "_weakrefset", "_thread", "_tracemalloc",
    "_struct", "_json", "binascii", "_sha256", "_sha2",
    "warnings",     # 3.13: threading imports it
    "heapq", "_heapq",  # 3.8: collections imports it
}
if hasattr(sys, "gettotalrefcount"):
    # A debug build looks up the codec of every encoding name the C API is
    # given, even one it then handles itself (unicode_check_encoding_errors).
    ALLOWED |= {"encodings.ascii"}
HEAVY = {"logging", "json", "pickle", "lzma", "bz2", "sysconfig", "tempfile", "re", "html",
         "argparse", "subprocess", "tracemalloc", "random", "shutil", "hashlib", "base64",
         "datetime", "linecache", "tokenize"}


def test_import_refchain_adds_only_small_modules(run_script):
    proc = run_script("""
        import sys
        before = set(sys.modules)
        import refchain
        print(" ".join(sorted(set(sys.modules) - before)))
    """)
    added = set(proc.stdout.split())
    ours = {m for m in added if m == "refchain" or m.startswith("refchain.")}
    stdlib = added - ours
    assert stdlib <= ALLOWED, sorted(stdlib - ALLOWED)
    assert not stdlib & HEAVY
    # refchain's own modules are all there: none is imported by a later
    # question (its code and names would be new objects then).
    for name in ("refchain._html", "refchain._shapes", "refchain._watch", "refchain._snapshot"):
        assert name in ours


def test_a_report_and_questions_leave_nothing_new(run_script, tmp_path):
    proc = run_script("""
        import sys, tracemalloc
        tracemalloc.start(5)
        import refchain

        class Order:
            pass

        ORDERS = []
        before = set(sys.modules)
        base = refchain.census()
        ORDERS.extend(Order() for _ in range(3000))
        refchain.report("page.html", since=base)
        refchain.suspects()
        refchain.garbage()
        refchain.explain(Order)
        refchain.show_growth(limit=1)
        report = refchain.leaks(since=base, limit=3)
        imported = sorted(set(sys.modules) - before)
        print(repr({
            "imported": imported,
            "types": [[row[0], row[1]] for row in report],
            "holders": [str(g) for row in report for g in row[3]],
        }))
    """)
    out = ast.literal_eval(proc.stdout.splitlines()[-1])
    assert out["imported"] == []
    # The user's leak leads, all of it in one group, and nothing of
    # refchain's is named: not its modules, not the page's script.
    assert out["types"][0] == ["__main__.Order", 3000]
    assert "module __main__ \u2192 ['ORDERS'] list \u2192 [*] Order" in out["holders"][0]
    assert "allocated at script.py:" in out["holders"][0]
    for text in out["holders"]:
        for word in ("refchain", "module html", "linecache", "_json", "_sha"):
            assert word not in text, text
    # What else is new is a handful of objects, not refchain's thousands
    # (before: str +4481 new, held by module html and refchain._html_assets).
    assert all(count < 20 for name, count in out["types"][1:]), out["types"]
    assert (tmp_path / "page.html").stat().st_size > 0
