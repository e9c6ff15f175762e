"""A small GTK 3 app for the drag-and-drop tests (Wayland or X11, whatever GDK_BACKEND says).

Usage: dnd_probe.py MODE TITLE ARG, with MODE one of
  entry-source  a GtkEntry holding the text ARG, all of it selected, so a press on it and a
                drag carries that text (GTK's own entry drag);
  entry-target  an empty GtkEntry; GTK's own entry drop inserts the text, and every change of
                the entry's text is written to the file ARG (replacing what was there);
  file-source   a label offering the file ARG as text/uri-list when dragged;
  file-target   a drop area taking text/uri-list; the URIs it receives are written to the
                file ARG, one a line.
The widget fills the window, its text centred, so a press at the middle of the window proper
lands on it. Prints "ready" once the window is mapped; what it takes and gives is logged on
stderr.
"""

import os
import sys

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, GLib, Gtk  # noqa: E402

mode, title, arg = sys.argv[1], sys.argv[2], sys.argv[3]


def log(*what):
    print(*what, file=sys.stderr, flush=True)


def write(path, text):
    # Written whole to a temporary name, then renamed: a reader never sees half of it.
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


window = Gtk.Window(title=title)
window.set_default_size(320, 160)
window.connect("destroy", Gtk.main_quit)


def labelled_box(text):
    """An event box with a label, filling the window: where a file drag starts or lands."""
    box = Gtk.EventBox()
    box.add(Gtk.Label(label=text))
    window.add(box)
    return box


if mode == "entry-source":
    entry = Gtk.Entry()
    entry.set_text(arg)
    entry.set_alignment(0.5)
    window.add(entry)

    def select_all(*_):
        entry.grab_focus()
        entry.select_region(0, -1)

    window.connect("map-event", lambda *_: GLib.idle_add(select_all))
    entry.connect("drag-begin", lambda *_: log("drag-begin"))
    entry.connect("drag-end", lambda *_: log("drag-end"))
elif mode == "entry-target":
    entry = Gtk.Entry()
    entry.set_alignment(0.5)
    entry.set_placeholder_text("drop here")
    window.add(entry)

    def changed(e):
        log("text", repr(e.get_text()))
        write(arg, e.get_text())

    entry.connect("changed", changed)
    entry.connect("drag-motion", lambda *_: log("drag-motion") or False)
    entry.connect("drag-leave", lambda *_: log("drag-leave"))
elif mode == "file-source":
    box = labelled_box("drag this file")
    uri = GLib.filename_to_uri(arg, None)
    box.drag_source_set(Gdk.ModifierType.BUTTON1_MASK, [], Gdk.DragAction.COPY)
    box.drag_source_add_uri_targets()

    def get(_w, _ctx, data, _info, _time):
        log("giving", uri)
        data.set_uris([uri])

    box.connect("drag-data-get", get)
    box.connect("drag-begin", lambda *_: log("drag-begin"))
    box.connect("drag-end", lambda *_: log("drag-end"))
elif mode == "file-target":
    box = labelled_box("drop files here")
    box.drag_dest_set(Gtk.DestDefaults.ALL, [], Gdk.DragAction.COPY)
    box.drag_dest_add_uri_targets()

    def received(_w, ctx, _x, _y, data, _info, time):
        uris = data.get_uris() or []
        log("received", uris)
        write(arg, "".join(u + "\n" for u in uris))

    box.connect("drag-data-received", received)
else:
    sys.exit(f"unknown mode {mode}")

window.connect("map-event", lambda *_: print("ready", flush=True) or False)
window.show_all()
Gtk.main()
