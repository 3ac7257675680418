"""Command-line entry for this subsystem (registered by evalsuite.cli.COMMAND_MODULES); commands land here."""


def register(subparsers) -> None:
    """Add this subsystem's commands to the `evalsuite` parser."""
