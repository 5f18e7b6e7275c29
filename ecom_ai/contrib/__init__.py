"""Ready-made integrations of ecom_ai with known shop frameworks."""
