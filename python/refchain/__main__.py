"""`python -m refchain` and the `refchain` console script.

The command line has no subcommands yet: the snapshot commands (writing a
heap snapshot of a process to a file, and reading one back) are coming.
Today it answers --help and --version; everything else is the Python API
(`import refchain`) and the pytest plugin (`-p refchain.pytest_plugin`, or
loaded automatically when refchain is installed)."""

import sys

USAGE = """usage: refchain [--help] [--version]

refchain: what grew, what keeps it alive, and where it was made.

options:
  -h, --help     show this message and exit
  --version      print refchain's version and exit

There are no subcommands yet: the snapshot commands (capture a process's
heap to a file, and answer questions on a file) are coming.  Until then:

  Python API     import refchain; refchain.show_growth(); refchain.show_explain("T")
                 refchain.leak_check(fn)   with refchain.no_growth(types=[...]): ...
  objgraph       refchain.show_backrefs(obj), refchain.show_chain(...), ... (docs/objgraph.md)
  pytest         pytest --refchain-leaks, @pytest.mark.refchain_no_leaks
                 (installed: loaded automatically; from a build tree: -p refchain.pytest_plugin)
"""


def main(argv=None):
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    if args[0] == "--version":
        from refchain import __version__
        print("refchain %s" % __version__)
        return 0
    sys.stderr.write("refchain: unknown argument %r: there are no subcommands yet\n%s"
                     % (args[0], USAGE.split("\n\n")[0] + "\n"))
    return 2


if __name__ == "__main__":
    sys.exit(main())
