"""Helpers for QA teams: a pytest plugin that drives a consent-gateway deployment in Chromium."""
