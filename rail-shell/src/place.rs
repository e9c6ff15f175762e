//! Where a Linux window goes on a RemoteApp host, and what a host's own move means for it:
//! the placement policy of RemoteApp as pure functions of the compositor's window
//! descriptions ([`WindowDesc`]) and of what the host was told ([`RemoteWindow`]).

use crate::{HostRect, RemoteWindow, WindowDesc};

/// TS_RAIL_CLIENTSTATUS_ALLOWLOCALMOVESIZE: the host moves and sizes windows itself.
const ALLOW_LOCAL_MOVE_SIZE: u32 = 0x1;
/// TS_RAIL_CLIENTSTATUS_HIGH_DPI_ICONS_SUPPORTED: the host takes 32 px small and 96 px big icons.
const HIGH_DPI_ICONS: u32 = 0x20;

/// The largest window side a host may ask for. A host rectangle spans up to 65535 pixels; no
/// desktop is larger than 8192 (the RDP server's limit), and an app asked for more would try
/// to allocate gigabytes.
pub const MAX_SIDE: i32 = 8192;

/// What a host said of itself in its client status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostAbilities {
    /// The host drags and sizes windows natively (with its snapping) and reports the result.
    pub local_move_size: bool,
    /// The host shows high-DPI icons.
    pub high_dpi_icons: bool,
}

impl HostAbilities {
    pub fn from_client_status(flags: u32) -> HostAbilities {
        HostAbilities {
            local_move_size: flags & ALLOW_LOCAL_MOVE_SIZE != 0,
            high_dpi_icons: flags & HIGH_DPI_ICONS != 0,
        }
    }

    /// The icon sizes this host takes: (small, for captions; big, for the taskbar).
    pub fn icon_sizes(&self) -> (u32, u32) {
        if self.high_dpi_icons {
            (32, 96)
        } else {
            (16, 32)
        }
    }
}

/// The host's view of a window. `host_scales`: the host scales window images to their
/// windows (mstsc, FreeRDP 3); FreeRDP 2 cannot, and its images must fit exactly.
pub fn remote_window(desc: &WindowDesc, host_scales: bool) -> RemoteWindow {
    let (pixels_w, pixels_h) = desc.image_pixels(host_scales);
    let image = desc.image;
    let mut window = HostRect::new(image.x, image.y, image.width.max(1) as u32, image.height.max(1) as u32);
    let surface = if desc.image_scale(host_scales) == desc.scale {
        // Pixel for pixel (rounding may differ by a pixel from the edges' mapping).
        window.width = pixels_w;
        window.height = pixels_h;
        None
    } else {
        Some((pixels_w, pixels_h))
    };
    let client = desc.client;
    RemoteWindow {
        id: desc.id,
        owner: desc.owner,
        kind: desc.kind,
        title: desc.title.clone(),
        app_id: desc.app_id.clone(),
        window,
        client: HostRect::new(client.x, client.y, client.width.max(1) as u32, client.height.max(1) as u32),
        show: desc.show,
        surface,
    }
}

/// A window the host moved or sized itself (WindowMove, SnapArrange): where the window
/// proper now is, in host pixels, and whether its size changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub client: HostRect,
    pub resized: bool,
}

/// The host moved the whole image of `shown` to `moved`; the window proper keeps its offset
/// inside the image, and a resize keeps the image's margins (client-side shadows).
pub fn after_host_move(shown: &RemoteWindow, moved: HostRect) -> Placed {
    let (dx, dy) = (shown.client.x - shown.window.x, shown.client.y - shown.window.y);
    let extra_w = shown.window.width as i64 - shown.client.width as i64;
    let extra_h = shown.window.height as i64 - shown.client.height as i64;
    let side = |v: u32, extra: i64| (v as i64 - extra).clamp(1, MAX_SIDE as i64) as u32;
    let client = HostRect::new(
        moved.x.saturating_add(dx),
        moved.y.saturating_add(dy),
        side(moved.width, extra_w),
        side(moved.height, extra_h),
    );
    let resized = (client.width, client.height) != (shown.client.width, shown.client.height);
    Placed { client, resized }
}

/// What a host's GetAppId is answered with: the app id, or the title of a window without one.
pub fn app_id(app_id: &str, title: &str) -> String {
    if app_id.is_empty() {
        title.to_string()
    } else {
        app_id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wayrail_remote::{Rect, Show, WindowKind};

    fn desc(scale: f64, fractional: bool) -> WindowDesc {
        WindowDesc {
            id: 7,
            owner: 3,
            kind: WindowKind::Popup,
            title: "t".into(),
            app_id: "a".into(),
            pid: Some(1),
            show: Show::Maximized,
            // A 200×100 logical window with a 10 px shadow, at (100, 50) logical.
            image: Rect::new(135, 60, 330, 180),
            client: Rect::new(150, 75, 300, 150),
            image_logical: (220, 120),
            scale,
            fractional,
        }
    }

    #[test]
    fn a_fractional_app_goes_out_pixel_for_pixel() {
        let w = remote_window(&desc(1.5, true), true);
        assert_eq!(w.surface, None);
        assert_eq!((w.window.width, w.window.height), (330, 180));
        assert_eq!(w.client, HostRect::new(150, 75, 300, 150));
        assert_eq!((w.id, w.owner, w.kind, w.show), (7, 3, WindowKind::Popup, Show::Maximized));
    }

    #[test]
    fn an_integer_app_goes_out_at_its_buffer_scale_for_the_host_to_scale() {
        let w = remote_window(&desc(1.5, false), true);
        assert_eq!(w.surface, Some((440, 240)));
        assert_eq!((w.window.width, w.window.height), (330, 180));
        assert_eq!(w.surface_size(), (440, 240));
    }

    #[test]
    fn a_host_that_cannot_scale_gets_images_at_the_monitor_scale() {
        let w = remote_window(&desc(1.5, false), false);
        assert_eq!(w.surface, None);
        assert_eq!(w.surface_size(), (330, 180));
    }

    #[test]
    fn a_move_keeps_the_window_inside_its_image() {
        let shown = remote_window(&desc(1.5, true), true);
        let p = after_host_move(&shown, HostRect::new(-200, 400, 330, 180));
        assert_eq!(p.client, HostRect::new(-185, 415, 300, 150));
        assert!(!p.resized);
    }

    #[test]
    fn a_resize_keeps_the_margins_and_is_bounded() {
        let shown = remote_window(&desc(1.5, true), true);
        let p = after_host_move(&shown, HostRect::new(0, 0, 430, 200));
        assert_eq!(p.client, HostRect::new(15, 15, 400, 170));
        assert!(p.resized);
        let p = after_host_move(&shown, HostRect::new(i32::MAX, i32::MIN, u32::MAX, 0));
        assert_eq!((p.client.width, p.client.height), (MAX_SIDE as u32, 1));
        assert_eq!((p.client.x, p.client.y), (i32::MAX, i32::MIN + 15));
    }

    #[test]
    fn client_status_flags() {
        let h = HostAbilities::from_client_status(0x21);
        assert!(h.local_move_size && h.high_dpi_icons);
        assert_eq!(h.icon_sizes(), (32, 96));
        assert_eq!(HostAbilities::from_client_status(0).icon_sizes(), (16, 32));
    }

    #[test]
    fn app_id_falls_back_to_the_title() {
        assert_eq!(app_id("", "xterm"), "xterm");
        assert_eq!(app_id("org.gnome.Foo", "xterm"), "org.gnome.Foo");
    }
}
