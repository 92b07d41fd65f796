from errors import AbstreamError


class InfraError(AbstreamError):
    """A local server could not be installed, started or stopped."""
