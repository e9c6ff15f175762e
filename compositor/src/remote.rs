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
    let image = Rect::new(ox + bbox.loc.x, oy + bbox.loc.y, bbox.size.w.max(1), bbox.size.h.max(1));
    let client = Rect::new(info.x, info.y, info.width.max(1), info.height.max(1));
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
        image_logical: (bbox.size.w, bbox.size.h),
        scale: output.scale,
        fractional: crate::handlers::is_fractional_aware(&root),
    })
}
