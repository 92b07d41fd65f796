from errors import AbstreamError


class AnalysisError(AbstreamError):
    """Statistics were asked of impossible input: empty variants, inconsistent sums, bad levels."""
