"""Real-browser tests: headless Debian Chromium, driven by Playwright, on ``meterbill serve``."""
