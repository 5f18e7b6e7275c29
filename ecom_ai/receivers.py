"""Signal receivers ecom_ai connects at start-up (see EcomAIConfig.ready)."""
