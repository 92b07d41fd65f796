from errors import AbstreamError


class SinkError(AbstreamError):
    """The results store refused a statement or could not be reached."""
