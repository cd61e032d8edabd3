"""tinyrnn: small recurrent networks from Keras to int8 firmware, measured on the device."""

from pathlib import Path as _Path

__version__ = "0.1.0"

# In a source checkout the subpackages tinyrnn.train / .convert / .deploy / .firmware are the
# folders beside this one (pyproject's package-dir maps them the same way for an install). Looking
# there first makes a checkout on PYTHONPATH (e.g. a git worktree) use its own folders rather than
# those of whichever checkout the editable install points at. A wheel has no pyproject.toml here.
_CHECKOUT = _Path(__file__).resolve().parent.parent
if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "train" / "__init__.py").is_file():
    __path__.append(str(_CHECKOUT))


def __getattr__(name: str):
    # tinyrnn.export_model without importing the API (and its conversion modules) on every
    # `import tinyrnn`: the CLI must start without them. (tinyrnn.deploy is the device link.)
    if name == "export_model":
        from tinyrnn.api import export_model

        return export_model
    raise AttributeError(f"module 'tinyrnn' has no attribute {name!r}")
