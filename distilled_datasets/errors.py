"""Exceptions raised when generator weights cannot be found or cannot be trusted."""


class GeneratorNotFoundError(FileNotFoundError):
    """The weights were looked for and are not there (the message says where and how to fix it)."""


class InvalidGeneratorError(ValueError):
    """The files were found but are not a valid generator for this use (config, keys, shapes)."""
