"""Custom Home Assistant integrations shipped by Rufina ALPR (package marker for tests)."""
