"""One error hierarchy; every error carries the HTTP status the web layer maps it to."""


class KBError(Exception):
    """Base class: a message meant for the user (in Chinese) plus an HTTP status."""

    status = 400

    def __init__(self, message: str, *, detail: object = None):
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidQuery(KBError):
    status = 422


class InvalidFilter(KBError):
    status = 422


class InvalidDocument(KBError):
    """A document failed validation; ``detail`` holds the list of problems."""

    status = 422


class DocumentNotFound(KBError):
    status = 404


class NotFound(KBError):
    status = 404


class IndexNotBuilt(KBError):
    status = 503


class IndexMismatch(KBError):
    """The index on disk was built with another model or chunker than the one configured."""

    status = 409


class BackendUnavailable(KBError):
    """An optional dependency is missing; the message says what to install."""

    status = 500


class ConversionError(KBError):
    """An uploaded file could not be converted to Markdown."""

    status = 415


class UploadTooLarge(KBError):
    status = 413


class AuthError(KBError):
    status = 401


class Forbidden(KBError):
    status = 403


class Conflict(KBError):
    status = 409


class RateLimited(KBError):
    status = 429
