"""dentsend: send dental radiographs to another doctor, de-identified and encrypted.

The core (everything but :mod:`dentsend.gui`) never imports Qt, so the command line, the tests and
the desktop app share one engine.
"""

__version__ = "0.1.0"
APP_NAME = "dentsend"
