"""Tests of the Home Assistant integration custom_components/rufina_alpr."""
