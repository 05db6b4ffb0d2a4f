"""Releases: immutable, versioned builds of this repository (`build.py`) and the pin of each
environment to one of them, which the Salt master serves as that environment's saltenv
(`pins.py`)."""
