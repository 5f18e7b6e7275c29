"""The recommendation service's errors (bad input: a 400 in the API, never a 500)."""


class RecommendationError(ValueError):
    """Bad input to the service (unknown placement, bad limit, malformed item key)."""


class UnknownPlacement(RecommendationError):
    pass
