"""The order bridge: what ecom_ai does with a placed host order (see ``ecom_ai.orders.bridge``)."""
