"""The root of every error abstream raises on purpose."""


class AbstreamError(Exception):
    """Base class: catch this to handle any abstream failure."""


class SettingsError(AbstreamError):
    """A setting is missing or malformed."""
