def cart(request):
    items = request.session.get("cart", {}) if hasattr(request, "session") else {}
    return {"cart_count": sum(items.values()) if isinstance(items, dict) else 0}
