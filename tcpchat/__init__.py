"""tcpchat: a reference TCP chat, a server and clients speaking UTF-8 lines.

Layers, each importing only from those below it (checked by import-linter:
the contracts in ``pyproject.toml``, run by ``tox -e lint``):

1. :mod:`tcpchat.cli`: reads the command line and the environment, builds the
   parts and hands them to a front end (only the ``__main__`` shims import it);
2. front ends: :mod:`tcpchat.console` (terminal) | :mod:`tcpchat.gui` (Tk);
3. cores and helpers: :mod:`tcpchat.server` | :mod:`tcpchat.client` (sockets
   and threads, emitting :mod:`tcpchat.events`) | :mod:`tcpchat.sinks` (terminal
   and log file) | :mod:`tcpchat.runtime` (stop signals, back-off);
4. pure, sans-IO: :mod:`tcpchat.protocol`, :mod:`tcpchat.room`,
   :mod:`tcpchat.guard`, :mod:`tcpchat.events` (no sockets, threads or Tk);
5. :mod:`tcpchat.streams`, :mod:`tcpchat.tls` and :mod:`tcpchat.errors`.
"""

__version__ = "1.0.0"
