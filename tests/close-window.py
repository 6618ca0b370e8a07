#!/usr/bin/python3
"""Asks a window to close as a window manager does when the person clicks
its close button: a WM_PROTOCOLS / WM_DELETE_WINDOW client message (there is
no window manager under Xvfb). Used by tests/tests/desktop_shell.rs.

    close-window.py PID TITLE

Closes every top-level window of process PID (_NET_WM_PID) titled TITLE;
exits 1 if there is none. Standard library only (ctypes and libX11).
"""
import ctypes
import ctypes.util
import sys

pid, title = int(sys.argv[1]), sys.argv[2].encode()
x = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")

Window = ctypes.c_ulong
Atom = ctypes.c_ulong


class ClientMessage(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", Window),
        ("message_type", Atom),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class Event(ctypes.Union):
    _fields_ = [("client", ClientMessage), ("pad", ctypes.c_long * 24)]


x.XOpenDisplay.restype = ctypes.c_void_p
x.XOpenDisplay.argtypes = [ctypes.c_char_p]
x.XDefaultRootWindow.restype = Window
x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
x.XInternAtom.restype = Atom
x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
x.XQueryTree.argtypes = [
    ctypes.c_void_p, Window, ctypes.POINTER(Window), ctypes.POINTER(Window),
    ctypes.POINTER(ctypes.POINTER(Window)), ctypes.POINTER(ctypes.c_uint),
]
x.XGetWindowProperty.argtypes = [
    ctypes.c_void_p, Window, Atom, ctypes.c_long, ctypes.c_long, ctypes.c_int, Atom,
    ctypes.POINTER(Atom), ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_ulong),
    ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_void_p),
]
x.XFetchName.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(ctypes.c_char_p)]
x.XSendEvent.argtypes = [ctypes.c_void_p, Window, ctypes.c_int, ctypes.c_long, ctypes.POINTER(Event)]
x.XFlush.argtypes = [ctypes.c_void_p]
x.XFree.argtypes = [ctypes.c_void_p]

display = x.XOpenDisplay(None)
if not display:
    sys.exit("close-window.py: cannot open the display")
net_wm_pid = x.XInternAtom(display, b"_NET_WM_PID", False)
wm_protocols = x.XInternAtom(display, b"WM_PROTOCOLS", False)
wm_delete = x.XInternAtom(display, b"WM_DELETE_WINDOW", False)


def window_pid(window):
    kind, fmt, count, after = Atom(), ctypes.c_int(), ctypes.c_ulong(), ctypes.c_ulong()
    data = ctypes.c_void_p()
    if x.XGetWindowProperty(display, window, net_wm_pid, 0, 1, False, 6,  # XA_CARDINAL
                            ctypes.byref(kind), ctypes.byref(fmt), ctypes.byref(count),
                            ctypes.byref(after), ctypes.byref(data)) != 0 or not data.value:
        return None
    value = ctypes.cast(data, ctypes.POINTER(ctypes.c_ulong))[0] if count.value else None
    x.XFree(data)
    return value


def window_title(window):
    name = ctypes.c_char_p()
    if not x.XFetchName(display, window, ctypes.byref(name)) or not name.value:
        return None
    return name.value


root, parent = Window(), Window()
children, count = ctypes.POINTER(Window)(), ctypes.c_uint()
x.XQueryTree(display, x.XDefaultRootWindow(display), ctypes.byref(root), ctypes.byref(parent),
             ctypes.byref(children), ctypes.byref(count))
closed = 0
for i in range(count.value):
    window = children[i]
    if window_pid(window) != pid or window_title(window) != title:
        continue
    event = Event()
    event.client.type = 33  # ClientMessage
    event.client.window = window
    event.client.message_type = wm_protocols
    event.client.format = 32
    event.client.data[0] = wm_delete
    event.client.data[1] = 0  # CurrentTime
    x.XSendEvent(display, window, False, 0, ctypes.byref(event))
    closed += 1
x.XFlush(display)
if not closed:
    sys.exit(f"close-window.py: no window {title.decode()!r} of process {pid}")
print(f"asked {closed} window(s) to close")
