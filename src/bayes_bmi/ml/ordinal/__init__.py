"""Ordered-categorical items: polychoric statistics and lavaan's WLSMV estimator."""
