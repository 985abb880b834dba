"""Asking leaves no trace: no cyclic garbage of refchain's own, and holding
any result object is never growth."""


def test_every_operation_leaves_no_garbage_and_no_growth(run_script):
    proc = run_script("""
        import gc, io, threading, time
        from collections import Counter
        import refchain

        ev = threading.Event()
        class Held: pass
        class Leaf: pass
        def sleeper():
            x = [Held() for _ in range(3)]     # a frame root: described by thread
            ev.wait()
        t = threading.Thread(target=sleeper, daemon=True)
        t.start()
        time.sleep(0.2)
        G = [Leaf() for _ in range(20)]
        C0 = refchain.census()

        def ops():
            out = io.StringIO()
            return [refchain.census(), refchain.capture(), refchain.find_chain(G[3]),
                    refchain.find_chain(Held), refchain.explain(Held), refchain.explain(Leaf),
                    refchain.leaks(C0), refchain.garbage(), refchain.growth(),
                    refchain.new_objects(), refchain.count("Leaf"),
                    refchain.find_backref_chain(G[2], lambda o: o is G),
                    refchain.find_ref_chain(G, lambda o: o is G[4]),
                    refchain.show_explain(Held, file=out), refchain.show_growth(file=out),
                    str(refchain.explain(Held)[0]), str(refchain.find_chain(G[1])), out]

        ops()
        gc.collect()
        gc.disable()
        for i in range(20):
            r = ops()
            del r
        gc.set_debug(gc.DEBUG_SAVEALL)
        n = gc.collect()
        print("garbage", n, sorted(Counter(type(o).__name__ for o in gc.garbage).items()))
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()

        held, held2 = [], []
        held.extend(ops())
        refchain.show_growth(file=io.StringIO())
        held2.extend(ops())
        print("growth:")
        refchain.show_growth()
        print("end")
        ev.set()
        t.join()
    """)
    lines = proc.stdout.splitlines()
    assert lines[0] == "garbage 0 []"
    assert lines[1:] == ["growth:", "end"]
