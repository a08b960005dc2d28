"""Tk windows for the server and the client (see :mod:`tcpchat.gui.base`)."""
