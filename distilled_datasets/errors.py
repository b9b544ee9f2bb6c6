"""The package's exceptions. Every one is a ``DistilledDatasetsError`` (what the command line
reports as a one-line error; anything else is a bug and shows its traceback) and also the
built-in exception that code written against torchvision expects to catch."""


class DistilledDatasetsError(Exception):
    """Base class: a failure the user can fix, with a message that says how."""


class UsageError(DistilledDatasetsError, ValueError):
    """An argument is out of range or not one of the valid values (the message names both)."""


class UsageTypeError(DistilledDatasetsError, TypeError):
    """An argument has the wrong type (the message names the argument and the expected type)."""


class MissingFileError(DistilledDatasetsError, FileNotFoundError):
    """A file or folder the command needs is not there (the message names it and how to make it)."""


class GeneratorNotFoundError(MissingFileError):
    """The weights were looked for and are not there (the message says where and how to fix it)."""


class InvalidGeneratorError(DistilledDatasetsError, ValueError):
    """The files were found but are not a valid generator for this use (config, keys, shapes)."""


class WriteError(DistilledDatasetsError, OSError):
    """A file could not be written (full or read-only disk...); nothing half-written was left."""


class DamagedFileError(DistilledDatasetsError, ValueError):
    """A file the package wrote earlier cannot be read back (truncated, not JSON, wrong content)."""


class OutputExistsError(DistilledDatasetsError, FileExistsError):
    """A command would replace something it did not create; the message names the flag that allows it."""


class UnreadableWeightsError(InvalidGeneratorError):
    """model.safetensors is not a whole safetensors file (truncated, damaged, another format): the fix
    is to fetch or save it again, which the loader says for the place it came from."""
