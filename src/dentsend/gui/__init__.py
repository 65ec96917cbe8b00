"""The desktop app: PySide6 widgets, models and workers over the same core as the command line.

Nothing outside this package imports it (the command line's launcher and the self-test load it
lazily), and it holds no business logic: every decision about what leaves the practice and how
it is protected is made by the core modules it calls. The GUI thread never decodes, cleans or
encrypts; that happens in :mod:`dentsend.gui.workers`.
"""
