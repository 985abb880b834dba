"""Argument checks the public calls share (a leaf: it imports nothing of the
package)."""

import sys


def _check_limit(limit, func):
    if limit is None:
        return sys.maxsize
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(
            "%s() argument 'limit' must be int or None, not %s" % (func, type(limit).__name__)
        )
    if limit < 0:
        raise ValueError("%s() argument 'limit' must be >= 0, got %d" % (func, limit))
    return limit


def _check_bool(value, name, func):
    if not isinstance(value, bool):
        raise TypeError(
            "%s() argument '%s' must be bool, not %s" % (func, name, type(value).__name__)
        )
