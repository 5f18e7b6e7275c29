"""Chat API (``/ecom-ai/api/v1/chat/``)."""
