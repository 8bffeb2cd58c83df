"""Request and response models, per purpose (``Create`` / ``Update`` / ``Public``)."""
