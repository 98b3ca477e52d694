"""Hostile clients and misbehaving origins: each test reproduces one finding of the hardening issue."""
