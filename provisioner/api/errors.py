"""The one error type of the API package: every problem found in a set of documents."""

from __future__ import annotations


class ValidationError(ValueError):
    """Raised with every problem found, one per line: `Kind "name": field.path: reason`."""

    def __init__(self, errors: list[str] | tuple[str, ...] | str) -> None:
        self.errors: tuple[str, ...] = (errors,) if isinstance(errors, str) else tuple(errors)
        super().__init__("\n".join(self.errors))
