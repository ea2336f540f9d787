"""lavaan."""
