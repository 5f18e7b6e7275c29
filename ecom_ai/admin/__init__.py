"""ecom_ai's admin, one module per domain."""
