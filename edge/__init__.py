"""The edge agent that runs on a field or barn gateway.

Imports nothing beyond paho-mqtt and the standard library (tests/unit/test_edge_is_light.py
holds it to that): a Raspberry Pi installs the ``edge`` extra only.
"""
