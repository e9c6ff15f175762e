"""A small X11 app for the Xwayland tests.

Usage: x11_probe.py MODE TITLE, with MODE one of
  hung      takes WM_DELETE_WINDOW and _NET_WM_PING, then stops reading events (a hung app);
  stubborn  takes both, answers pings, ignores the delete request (an app asking "save?");
  noping    takes WM_DELETE_WINDOW only and ignores it, reading events all along;
  click     prints "press X Y" (window coordinates) for each button press;
  move      on a button press, asks the window manager to move the window with the pointer
            (_NET_WM_MOVERESIZE), as apps with their own title bar do;
  resize    the same, resizing from the bottom-right corner;
  popup     on SIGUSR1, opens an override-redirect window (no WM_TRANSIENT_FOR) over its
            window, as tooltips do;
  icon      sets _NET_WM_ICON (16 and 48 px, left half red, right half blue) and exits when
            asked to close; on SIGUSR1 the halves turn green and yellow (an icon changed
            after the window was mapped).
Prints "mapped" once its window is mapped. Needs python3-xlib (Debian's python3).
"""

import os
import select
import signal
import sys
import time

from Xlib import X, Xatom, display
from Xlib.protocol import event

mode, title = sys.argv[1], sys.argv[2]
d = display.Display()
screen = d.screen()
root = screen.root
w = root.create_window(40, 40, 200, 120, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
                       background_pixel=screen.white_pixel, event_mask=X.StructureNotifyMask | X.ExposureMask | X.ButtonPressMask)
delete = d.intern_atom("WM_DELETE_WINDOW")
ping = d.intern_atom("_NET_WM_PING")
protocols = d.intern_atom("WM_PROTOCOLS")
w.set_wm_name(title)
w.change_property(d.intern_atom("_NET_WM_NAME"), d.intern_atom("UTF8_STRING"), 8, title.encode())
w.set_wm_class("closeprobe", "CloseProbe")
w.change_property(d.intern_atom("_NET_WM_PID"), Xatom.CARDINAL, 32, [os.getpid()])
w.set_wm_protocols([delete] if mode in ("noping", "icon", "click", "move", "resize", "popup") else [delete, ping])
def set_icon(left, right):
    icon = []
    for size in (16, 48):
        icon += [size, size]
        icon += [left if x < size // 2 else right for y in range(size) for x in range(size)]
    w.change_property(d.intern_atom("_NET_WM_ICON"), Xatom.CARDINAL, 32, icon)


if mode == "icon":
    set_icon(0xFFFF0000, 0xFF0000FF)
w.map()
d.flush()

wanted = []
signal.signal(signal.SIGUSR1, lambda *_: wanted.append(1))

while True:
    if mode == "icon":
        if wanted:
            wanted.clear()
            set_icon(0xFF00FF00, 0xFFFFFF00)
            d.flush()
            print("icon changed", flush=True)
        if not d.pending_events():
            select.select([d], [], [], 0.1)
            continue
    if mode == "popup":
        if wanted:
            wanted.clear()
            at = root.translate_coords(w, 10, 10)
            tip = root.create_window(at.x, at.y, 80, 30, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
                                     background_pixel=screen.black_pixel, override_redirect=True)
            tip.map()
            d.flush()
            print("popup shown", flush=True)
        if not d.pending_events():
            select.select([d], [], [], 0.1)
            continue
    e = d.next_event()
    if e.type == X.MapNotify:
        print("mapped", flush=True)
        if mode == "hung":
            # Hung: nothing is read or answered from now on.
            while True:
                time.sleep(3600)
    elif e.type == X.ButtonPress and mode == "click":
        print(f"press {e.event_x} {e.event_y}", flush=True)
    elif e.type == X.ButtonPress and mode in ("move", "resize"):
        # The window manager takes the pointer from here: let go of the implicit grab.
        d.ungrab_pointer(X.CurrentTime)
        direction = 8 if mode == "move" else 4  # _NET_WM_MOVERESIZE_MOVE / _SIZE_BOTTOMRIGHT
        data = [e.root_x, e.root_y, direction, e.detail, 1]
        request = event.ClientMessage(window=w, client_type=d.intern_atom("_NET_WM_MOVERESIZE"), data=(32, data))
        root.send_event(request, event_mask=X.SubstructureNotifyMask | X.SubstructureRedirectMask)
        d.flush()
        print("moveresize sent", flush=True)
    elif e.type == X.ClientMessage and e.client_type == protocols:
        kind = e.data[1][0]
        if kind == delete and mode in ("icon", "click", "move", "resize", "popup"):
            sys.exit(0)
        if kind == ping and mode == "stubborn":
            # The answer goes to the root window, as _NET_WM_PING asks.
            reply = event.ClientMessage(window=root, client_type=protocols, data=(32, e.data[1]))
            root.send_event(reply, event_mask=X.SubstructureNotifyMask | X.SubstructureRedirectMask)
            d.flush()
        # WM_DELETE_WINDOW: ignored.
