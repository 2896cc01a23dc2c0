"""Stand-ins for the hosts (Frigate, the MQTT broker, PostgreSQL) for the demo, bench and tests.

The engine never imports this package (tests/engine/test_layout.py holds the boundary).
"""
