"""dentsend: send dental radiographs to another doctor, de-identified and encrypted.

The core (everything but :mod:`dentsend.gui`) never imports Qt, so the command line, the tests and
the desktop app share one engine.
"""

__version__ = "0.1.0"
APP_NAME = "dentsend"
#: Reverse-DNS identity used everywhere: the macOS bundle identifier, the Linux desktop file and
#: AppStream id, the Windows AppUserModelID of the shortcuts (so the window groups with them).
APP_ID = "org.dentsend.dentsend"
