"""One exception type for problems the user can fix; the CLI prints its message without a traceback."""


class M2L2Error(Exception):
    """A user-facing error: bad input, a missing file or weights, a wrong shape. The message says what to do."""
