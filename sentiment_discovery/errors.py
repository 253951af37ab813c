"""The one exception type for problems with the user's input (files, flags, checkpoints).

Library code raises `UserError("one line naming the problem")`; the command-line wrapper in
`sentiment_discovery.cli` prints it as one line and exits non-zero, never with a traceback."""


class UserError(Exception):
    """Bad input from the user: the message is one line that names the problem."""
