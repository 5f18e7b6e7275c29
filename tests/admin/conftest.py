from tests.catalog.conftest import make_product  # noqa: F401
