//! The compositor's side of the remoting seam: each window described as a host needs to
//! know it ([`WindowDesc`], in host pixels of the monitor it is on). What a remoting layer
//! makes of it (RemoteApp orders, surfaces, icons) is not decided here.

use smithay::desktop::utils::bbox_from_surface_tree;
use wayrail_remote::{Show, WindowDesc, WindowKind as RemoteKind};

use crate::state::{window_root, Core, OutputEntry};
use crate::window::{Rect, ShowState, WindowInfo, WindowKind};

/// The output a window is shown on (its own idea of it, else where it mostly is).
pub fn window_output<'a>(core: &'a Core, info: &WindowInfo) -> Option<&'a OutputEntry> {
    info.output
        .as_deref()
        .and_then(|name| core.output_by_name(name))
        .or_else(|| core.output_for_rect(Rect::new(info.x, info.y, info.width.max(1), info.height.max(1))))
}

/// A window as a host sees it; None while it has no surface or no output.
pub fn describe(core: &Core, info: &WindowInfo) -> Option<WindowDesc> {
    // Toplevels, and X11 windows of either kind (override-redirect ones are popups), are
    // toplevel entries; xdg popups are popup entries.
    let (root, geometry_offset) = match core.toplevel_by_id(info.id) {
        Some(t) => (window_root(&t.window)?, t.window.geometry().loc),
        None => {
            let p = core.popup_windows.get(&info.id)?;
            (p.popup.wl_surface().clone(), p.popup.geometry().loc)
        }
    };
    let bbox = bbox_from_surface_tree(&root, (0, 0));
    // The root surface's origin in the global space; the image starts at its bbox.
    let (ox, oy) = (info.x - geometry_offset.x, info.y - geometry_offset.y);
    let mut image = Rect::new(ox + bbox.loc.x, oy + bbox.loc.y, bbox.size.w.max(1), bbox.size.h.max(1));
    let mut client = Rect::new(info.x, info.y, info.width.max(1), info.height.max(1));
    let mut image_logical = (bbox.size.w, bbox.size.h);
    // A title bar in the image (see `render_window`) is part of the window on the host: the
    // host's window and its client rectangle take it in, so a drag on it moves the window.
    if let Some(bar) = core.image_bar(info.id) {
        let merged = union(image, bar);
        image_logical = (image_logical.0 + merged.width - image.width, image_logical.1 + merged.height - image.height);
        image = merged;
        client = union(client, bar);
    }
    let output = window_output(core, info)?;
    let host = |r: Rect| output.logical_to_host(r);
    Some(WindowDesc {
        id: info.id.0,
        owner: info.parent.map_or(0, |p| p.0),
        kind: match info.kind {
            WindowKind::Toplevel => RemoteKind::Toplevel,
            WindowKind::Popup => RemoteKind::Popup,
        },
        title: info.title.clone(),
        app_id: info.app_id.clone(),
        pid: info.pid,
        show: match info.state {
            ShowState::Normal => Show::Normal,
            ShowState::Maximized => Show::Maximized,
            ShowState::Minimized => Show::Minimized,
            ShowState::Fullscreen => Show::Fullscreen,
        },
        image: host(image),
        client: host(client),
        image_logical,
        scale: output.scale,
        fractional: crate::handlers::is_fractional_aware(&root),
    })
}

/// The smallest rectangle holding both.
fn union(a: Rect, b: Rect) -> Rect {
    let (x, y) = (a.x.min(b.x), a.y.min(b.y));
    let right = (a.x + a.width).max(b.x + b.width);
    let bottom = (a.y + a.height).max(b.y + b.height);
    Rect::new(x, y, right - x, bottom - y)
}

/// Where a window's content is when the host placed its frame (its client rectangle as
/// `describe` gave it) at `frame`, global logical: below the bar its image carries, if any.
pub fn content_of_frame(core: &Core, id: crate::window::WindowId, frame: Rect) -> Rect {
    match core.image_bar(id) {
        Some(bar) => Rect::new(frame.x, frame.y + bar.height, frame.width, (frame.height - bar.height).max(1)),
        None => frame,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_holds_both_rectangles() {
        let content = Rect::new(100, 100, 400, 300);
        let bar = crate::decorations::bar_rect(content);
        assert_eq!(union(content, bar), crate::decorations::frame_rect(content));
        assert_eq!(union(Rect::new(90, 90, 420, 320), bar), Rect::new(90, 72, 420, 338));
    }
}
