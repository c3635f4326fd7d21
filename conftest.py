"""Loads the browser fixtures for every test folder that drives Chromium (tests/browser, tests/faults)."""

pytest_plugins = ["tests.browser.fixtures"]
