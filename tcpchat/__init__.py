"""tcpchat: a reference TCP chat, a server and clients speaking UTF-8 lines.

Layers, each using only those before it: :mod:`tcpchat.protocol` and
:mod:`tcpchat.room` (pure, sans-IO) ← :mod:`tcpchat.server` and
:mod:`tcpchat.client` (sockets and threads, emitting :mod:`tcpchat.events`) ←
front ends (:mod:`tcpchat.console`, :mod:`tcpchat.gui`) ← :mod:`tcpchat.cli`.
"""

__version__ = "1.0.0"
