"""The one exception type for errors a user can cause."""


class UsageError(Exception):
    """Bad input: a bus spec, a scenario, a baseline or an option.

    The message says what is wrong and how to fix it, in one line where it can.
    The command turns it into exit status 2; anything else escaping is a bug.
    """
