//! The remoting seam. The compositor describes each window here — identity, owner, state,
//! title, where its image and the window proper are on the host, the scale it is drawn at —
//! and knows nothing of how a host is reached. A remoting layer turns these descriptions
//! into its own protocol: RemoteApp (`wayrail-rail`) into RAIL orders and EGFX surfaces,
//! VAIL into shared-memory presents. Pixels travel separately, as damaged rectangles of the
//! window's image read from the compositor's renderer; a transport answers with "frame shown".

/// A rectangle. In the seam's descriptions it is in host desktop pixels: the host's virtual
/// desktop, its primary monitor's top-left corner at 0,0. The compositor uses it for its
/// logical space too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

impl Rect {
    pub const fn new(x: i32, y: i32, width: i32, height: i32) -> Self {
        Self { x, y, width, height }
    }

    /// The common part of two rectangles, when they share at least a pixel.
    pub fn intersection(&self, other: &Rect) -> Option<Rect> {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = (self.x + self.width).min(other.x + other.width);
        let y1 = (self.y + self.height).min(other.y + other.height);
        (x1 > x0 && y1 > y0).then(|| Rect::new(x0, y0, x1 - x0, y1 - y0))
    }

    pub fn intersection_area(&self, other: &Rect) -> i64 {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = (self.x + self.width).min(other.x + other.width);
        let y1 = (self.y + self.height).min(other.y + other.height);
        if x1 <= x0 || y1 <= y0 {
            0
        } else {
            (x1 - x0) as i64 * (y1 - y0) as i64
        }
    }

    pub fn contains(&self, x: f64, y: f64) -> bool {
        x >= self.x as f64
            && y >= self.y as f64
            && x < (self.x + self.width) as f64
            && y < (self.y + self.height) as f64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WindowKind {
    /// An application window: on the taskbar, with the host's move/size/min/max behaviour.
    #[default]
    Toplevel,
    /// Menus, tooltips, combo lists: tool windows owned by their parent, off the taskbar.
    Popup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Show {
    #[default]
    Normal,
    Minimized,
    Maximized,
    Fullscreen,
}

/// One window as a host needs to know it, in the host's pixels of the monitor it is on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WindowDesc {
    /// The compositor's window id: stable for the window's life, across reconnects.
    pub id: u32,
    /// The window this one belongs to (a dialog's parent, a menu's window); 0 for none.
    pub owner: u32,
    pub kind: WindowKind,
    pub title: String,
    pub app_id: String,
    pub pid: Option<i32>,
    pub show: Show,
    /// The window's whole image: its surface tree, client-side shadows included.
    pub image: Rect,
    /// The window proper (what the app calls its geometry), inside `image`.
    pub client: Rect,
    /// The image's size in the compositor's logical units.
    pub image_logical: (i32, i32),
    /// The scale of the monitor the window is on.
    pub scale: f64,
    /// The app draws at fractional scales (wp_fractional_scale_v1): its buffers can match
    /// the monitor's pixels. Other apps draw at an integer buffer scale.
    pub fractional: bool,
}

impl WindowDesc {
    /// The scale the window's image is composed at. Apps that draw at fractional scales go
    /// out pixel for pixel at the monitor's scale. Other apps draw at the monitor's scale
    /// rounded up; when the host scales images to their windows (`host_scales`) they go out at
    /// that scale and the host scales them down, so nobody resamples their pixels twice;
    /// otherwise the compositor composes them at the monitor's exact scale.
    pub fn image_scale(&self, host_scales: bool) -> f64 {
        if self.fractional || !host_scales {
            self.scale
        } else {
            self.scale.ceil()
        }
    }

    /// The image's size in pixels at [`WindowDesc::image_scale`], as the renderer makes it.
    pub fn image_pixels(&self, host_scales: bool) -> (u32, u32) {
        let scale = self.image_scale(host_scales);
        let px = |v: i32| ((v as f64 * scale).round() as i64).clamp(1, u32::MAX as i64) as u32;
        (px(self.image_logical.0), px(self.image_logical.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(scale: f64, fractional: bool) -> WindowDesc {
        WindowDesc { image_logical: (201, 100), scale, fractional, ..Default::default() }
    }

    #[test]
    fn fractional_apps_go_out_at_the_monitor_scale() {
        assert_eq!(desc(1.5, true).image_scale(true), 1.5);
        assert_eq!(desc(1.5, true).image_pixels(true), (302, 150));
    }

    #[test]
    fn integer_apps_go_out_at_their_buffer_scale_when_the_host_scales() {
        assert_eq!(desc(1.5, false).image_scale(true), 2.0);
        assert_eq!(desc(1.5, false).image_pixels(true), (402, 200));
        assert_eq!(desc(1.5, false).image_scale(false), 1.5);
        assert_eq!(desc(2.0, false).image_scale(true), 2.0);
    }

    #[test]
    fn an_empty_image_is_one_pixel() {
        let d = WindowDesc { image_logical: (0, 0), scale: 1.0, ..Default::default() };
        assert_eq!(d.image_pixels(true), (1, 1));
    }
}
