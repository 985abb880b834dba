"""`python -m refchain` and the `refchain` console script: the command line
of refchain._cli (docs/cli.md)."""

import sys


def main(argv=None):
    from refchain._cli import main as cli_main
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
