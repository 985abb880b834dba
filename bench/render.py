"""Layout time against graph size: synthetic graphs of 50 to 1000 nodes
drawn as SVG in process.  Not part of the test suite.

Each graph is a binary tree of lists, node i holding nodes 2i+1 and 2i+2,
so it has n objects and n - 1 labelled references.  Two times per size, the
best of --repeat runs each:

  layout    the C half alone: _refchain._render() on ready node and edge
            tuples (Graphviz's dot layout and the SVG renderer);
  total     refchain.render([tree], refs=True, ...): the capture, the
            breadth-first walk, the labels and the layout.

Run from the repository root on an existing build:

    PYTHONPATH=build/system/python python3 bench/render.py [--sizes 50,100] [--repeat 3]
"""

import argparse
import time

import refchain
from refchain import _refchain


def tree(n):
    """A binary tree of n lists; returns the root."""
    nodes = [[] for _ in range(n)]
    for i in range(1, n):
        nodes[(i - 1) // 2].append(nodes[i])
    return nodes[0]


def plain_graph(n):
    """The same tree as ready tuples, labelled the way refchain labels lists."""
    nodes = [(i, "list\n%d items\n72 B, refcount 1" % min(2, max(0, n - 2 * i - 1)),
              "list at 0x%x" % (0x7f0000000000 + 64 * i), "target" if i == 0 else "object")
             for i in range(n)]
    edges = [((i - 1) // 2, i, "[%d]" % ((i - 1) % 2), "strong") for i in range(1, n)]
    return nodes, edges


def best(repeat, fn):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,100,200,500,1000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("%6s %6s %10s %10s %9s" % ("nodes", "edges", "layout s", "total s", "SVG KiB"))
    for n in [int(s) for s in args.sizes.split(",")]:
        nodes, edges = plain_graph(n)
        layout, svg = best(args.repeat, lambda: _refchain._render(nodes, edges, "svg", ""))
        root = tree(n)
        total, svg2 = best(args.repeat, lambda: refchain.render(
            [root], refs=True, max_depth=n, too_many=2, max_nodes=n))
        assert svg2.count(b'class="node"') == n, "the walk should reach every node"
        print("%6d %6d %10.3f %10.3f %9.0f" % (n, len(edges), layout, total, len(svg) / 1024))
        del root


if __name__ == "__main__":
    main()
