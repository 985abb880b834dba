"""The JSON shapes of the command line's answers (docs/cli.md) and the rows
they are made of, shared by the command line (refchain._cli) and the HTML
report (refchain._html): chains, groups, suspects, garbage, growth rows,
holders, and the facts of a snapshot file."""


def _hex(address):
    return "0x%x" % address


def _sites(lines):
    return [{"site": site, "count": n} for n, site in lines]


def _file_info(snap):
    facts = snap.facts
    return {"path": snap.path, "objects": len(snap), "pid": facts.get("pid"),
            "time": facts.get("time"), "python": facts.get("python")}


def _pair_notes(old, new):
    """Warnings when two snapshots do not look like one process, in order."""
    notes = []
    fo, fn = old.facts, new.facts
    if fo.get("pid") and fn.get("pid") and (fo.get("pid"), fo.get("host")) != \
            (fn.get("pid"), fn.get("host")):
        notes.append("note: the snapshots come from different processes (pid %s, pid %s): "
                     "growth compares two unrelated heaps" % (fo.get("pid"), fn.get("pid")))
    if fo.get("time") and fn.get("time") and fo["time"] > fn["time"]:
        notes.append("note: %s was written before %s: is the order of the files right?"
                     % (new.path, old.path))
    return notes


def chain_json(chain):
    target = chain.target
    return {
        "address": _hex(target.address),
        "type": target.typename,
        "root_kind": chain.root_kind,
        "root": chain.root_description,
        "hops": chain.hops,
        "steps": [{"label": label, "type": obj.typename, "address": _hex(obj.address),
                   "size": obj.size} for obj, label in chain.steps],
        "text": str(chain),
    }


def group_json(group):
    return {"type": group.typename, "count": group.count, "bytes": group.bytes,
            "retained_bytes": group.retained_bytes, "retained_count": group.retained_count,
            "root_kind": group.root_kind, "path": group.path(),
            "allocated_at": _sites(group.lines), "chain": chain_json(group.chain),
            "text": str(group)}


def suspect_json(suspect):
    acc = None
    if suspect.accumulated is not None:
        acc = {"type": suspect.accumulated, "count": suspect.accumulated_count,
               "bytes": suspect.accumulated_bytes, "linked": suspect.linked}
    return {"address": _hex(suspect.obj.address), "type": suspect.obj.typename,
            "bytes": suspect.bytes, "count": suspect.count, "share": suspect.share,
            "holder": suspect.holder(), "accumulated": acc,
            "chain": chain_json(suspect.chain), "text": str(suspect)}


def garbage_json(report):
    return {"object_count": report.object_count, "freed_bytes": report.freed_bytes,
            "finalizer_objects": report.finalizer_objects,
            "cycles": [{"types": list(g.types), "signature": g.signature, "count": g.count,
                        "objects": g.objects, "bytes": g.bytes,
                        "has_finalizers": bool(g.has_finalizers), "path": g.path(),
                        "allocated_at": _sites(g.lines), "text": str(g)} for g in report],
            "text": str(report)}


def _growth_rows(new, old, limit):
    """[{type, count, delta, bytes_delta, ...}] of what grew (everything
    without `old`), with allocation sites when the snapshot traced."""
    rows, ids = new._growth(old, limit, False, new.traced)
    out = []
    for row in rows:
        out.append({"type": row.name, "count": row.count, "delta": row.delta,
                    "bytes_delta": row.bytes_delta,
                    "bytes_lower_bound": bool(row.bytes_lower_bound),
                    "allocated_at": _sites(new._sites((ids or {}).get(row.name, ())))})
    return out


def _holders(new, old, types, limit):
    from refchain._explain import LeakRow
    """[(typename, count, bytes, [Group])] for the report: leaks() since
    `old` of the `types` types that grew most (the growth table's order),
    or explain() of the `types` largest types without it."""
    if old is not None:
        # leaks() ranks its types by new objects, ties in no useful order: ask
        # for more, keep the growth table's first `types`.
        report = {row[0]: LeakRow(*row[:3], row[3][:limit], row.retained_bytes,
                                  row.retained_count)
                  for row in new.leaks(since=old, limit=max(limit, 2 * types, 10))}
        order = [t for t, _, _ in new.growth(since=old, limit=None, shortnames=False)]
        order += [t for t in report if t not in set(order)]
        return [report[t] for t in order if t in report][:types]
    census = new.census()
    out = []
    for typename, count, _ in new.growth(limit=types, shortnames=False):
        out.append((typename, count, census[typename].bytes, new.explain(typename, limit)))
    return out
