//! Windowing orders (MS-RDPERP 2.2.1.3) built from window descriptions: a full state for a
//! new window, only what changed for an existing one, deletes, and the monitored desktop
//! (active window and z-order). They ride in a fast-path Orders update, whose data
//! `update_data` builds.

use ironrdp_core::{encode_vec, EncodeResult};
use ironrdp_pdu::geometry::ExclusiveRectangle;
use ironrdp_pdu::window::{
    DesktopOrder, MonitoredDesktop, ShowState, WindowOrder, WindowOrderBody, WindowPoint, WindowSize, WindowState,
    WindowStyle, WindowingOrder,
};

use crate::{HostRect, RemoteWindow, Show, WindowKind};

pub const WS_POPUP: u32 = 0x8000_0000;
pub const WS_VISIBLE: u32 = 0x1000_0000;
pub const WS_CLIPSIBLINGS: u32 = 0x0400_0000;
pub const WS_CAPTION: u32 = 0x00C0_0000;
pub const WS_SYSMENU: u32 = 0x0008_0000;
pub const WS_THICKFRAME: u32 = 0x0004_0000;
pub const WS_MINIMIZEBOX: u32 = 0x0002_0000;
pub const WS_MAXIMIZEBOX: u32 = 0x0001_0000;
pub const WS_EX_TOPMOST: u32 = 0x0000_0008;
pub const WS_EX_TOOLWINDOW: u32 = 0x0000_0080;
pub const WS_EX_WINDOWEDGE: u32 = 0x0000_0100;
pub const WS_EX_APPWINDOW: u32 = 0x0004_0000;

/// Window styles: application windows get the host's caption behaviours (snap, min/max) and
/// a taskbar entry; popups are owned tool windows above their parent, off the taskbar.
pub fn style(window: &RemoteWindow) -> WindowStyle {
    match window.kind {
        WindowKind::Toplevel => WindowStyle {
            style: WS_VISIBLE
                | WS_CLIPSIBLINGS
                | WS_CAPTION
                | WS_SYSMENU
                | WS_THICKFRAME
                | WS_MINIMIZEBOX
                | WS_MAXIMIZEBOX,
            extended_style: WS_EX_WINDOWEDGE | if window.owner == 0 { WS_EX_APPWINDOW } else { 0 },
        },
        WindowKind::Popup => WindowStyle {
            style: WS_POPUP | WS_VISIBLE | WS_CLIPSIBLINGS,
            extended_style: WS_EX_TOOLWINDOW | WS_EX_TOPMOST,
        },
    }
}

pub fn show_state(show: Show) -> ShowState {
    match show {
        Show::Normal | Show::Fullscreen => ShowState::Show,
        Show::Minimized => ShowState::Minimized,
        Show::Maximized => ShowState::Maximized,
    }
}

fn point(x: i32, y: i32) -> WindowPoint {
    WindowPoint { x, y }
}

fn rect_at(x: i32, y: i32, w: u32, h: u32) -> ExclusiveRectangle {
    let clamp = |v: i64| v.clamp(0, u16::MAX as i64) as u16;
    ExclusiveRectangle {
        left: clamp(x as i64),
        top: clamp(y as i64),
        right: clamp(x as i64 + w as i64),
        bottom: clamp(y as i64 + h as i64),
    }
}

/// The geometry fields of a window. The surface covers `window`; only `client` is visible
/// (client-side shadows are cut off by the visibility region).
fn geometry(state: &mut WindowState, w: &RemoteWindow) {
    let win: HostRect = w.window;
    let client = w.client;
    state.window_offset = Some(point(win.x, win.y));
    state.window_size = Some(WindowSize { width: win.width, height: win.height });
    state.client_offset = Some(point(client.x, client.y));
    state.client_area_size = Some(WindowSize { width: client.width, height: client.height });
    // Saturating: the rectangles are the compositor's, any i32, and an order must not panic.
    let delta = (client.x.saturating_sub(win.x), client.y.saturating_sub(win.y));
    state.client_delta = Some(point(delta.0, delta.1));
    state.window_rects = Some(vec![rect_at(0, 0, win.width, win.height)]);
    state.visible_offset = Some(point(win.x, win.y));
    state.visibility_rects = Some(vec![rect_at(delta.0, delta.1, client.width, client.height)]);
}

/// The order that creates a window on the host.
pub fn new_window(w: &RemoteWindow) -> WindowingOrder {
    let mut state = WindowState {
        owner_window_id: Some(w.owner),
        style: Some(style(w)),
        show_state: Some(show_state(w.show)),
        title: Some(title(w)),
        ..Default::default()
    };
    geometry(&mut state, w);
    WindowingOrder::Window(WindowOrder { window_id: w.id, is_new: true, body: WindowOrderBody::State(Box::new(state)) })
}

/// The order that brings the host from `old` to `new`; None when nothing it shows changed.
pub fn update_window(old: &RemoteWindow, new: &RemoteWindow) -> Option<WindowingOrder> {
    let mut state = WindowState::default();
    let mut changed = false;
    if old.owner != new.owner {
        state.owner_window_id = Some(new.owner);
        changed = true;
    }
    if old.kind != new.kind {
        state.style = Some(style(new));
        changed = true;
    }
    if old.show != new.show {
        state.show_state = Some(show_state(new.show));
        changed = true;
    }
    if title(old) != title(new) {
        state.title = Some(title(new));
        changed = true;
    }
    if old.window != new.window || old.client != new.client {
        geometry(&mut state, new);
        changed = true;
    }
    changed.then(|| {
        WindowingOrder::Window(WindowOrder {
            window_id: new.id,
            is_new: false,
            body: WindowOrderBody::State(Box::new(state)),
        })
    })
}

pub fn delete_window(id: u32) -> WindowingOrder {
    WindowingOrder::Window(WindowOrder { window_id: id, is_new: false, body: WindowOrderBody::Deleted })
}

/// The desktop is monitored (sent once before the first window).
pub fn desktop_hooked() -> WindowingOrder {
    WindowingOrder::Desktop(DesktopOrder::ActivelyMonitored(MonitoredDesktop {
        hooked: true,
        arc_began: false,
        arc_completed: false,
        active_window_id: None,
        z_order: None,
    }))
}

/// The active window and the z-order, `top_first`.
pub fn desktop_state(active: Option<u32>, top_first: Vec<u32>) -> WindowingOrder {
    WindowingOrder::Desktop(DesktopOrder::ActivelyMonitored(MonitoredDesktop {
        hooked: false,
        arc_began: false,
        arc_completed: false,
        active_window_id: Some(active.unwrap_or(0xFFFF_FFFF)),
        z_order: Some(top_first),
    }))
}

/// The most UTF-16 code units a title may have: TitleInfo is at most 520 bytes (MS-RDPERP
/// 2.2.1.3.1.2.1), and a longer one does not even encode (`ironrdp-pdu` refuses it, which
/// would end the session).
pub const MAX_TITLE_UNITS: usize = 260;

/// Titles are UTF-16 on the wire; long ones are cut (never inside a surrogate pair).
fn title(w: &RemoteWindow) -> String {
    let base = if w.title.is_empty() { w.app_id.clone() } else { w.title.clone() };
    let mut units = 0;
    base.chars()
        .take_while(|c| {
            units += c.len_utf16();
            units <= MAX_TITLE_UNITS
        })
        .collect()
}

/// The data of a fast-path Orders update carrying `orders`.
pub fn update_data(orders: &[WindowingOrder]) -> EncodeResult<Vec<u8>> {
    let mut data = (orders.len() as u16).to_le_bytes().to_vec();
    for o in orders {
        data.extend(encode_vec(o)?);
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> RemoteWindow {
        RemoteWindow {
            id: 5,
            owner: 0,
            kind: WindowKind::Toplevel,
            title: "foot".into(),
            app_id: "foot".into(),
            window: HostRect::new(90, 40, 720, 520),
            client: HostRect::new(100, 50, 700, 500),
            show: Show::Normal,
            surface: None,
        }
    }

    fn state(o: &WindowingOrder) -> &WindowState {
        match o {
            WindowingOrder::Window(WindowOrder { body: WindowOrderBody::State(s), .. }) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn far_apart_rectangles_saturate_the_client_offset() {
        let w = RemoteWindow {
            window: HostRect::new(i32::MIN, i32::MAX, 10, 10),
            client: HostRect::new(i32::MAX, i32::MIN, 10, 10),
            ..window()
        };
        let o = new_window(&w);
        let delta = state(&o).client_delta.as_ref().map(|p| (p.x, p.y));
        assert_eq!(delta, Some((i32::MAX, i32::MIN)));
    }

    #[test]
    fn new_window_has_everything() {
        let o = new_window(&window());
        let s = state(&o);
        assert_eq!(s.title.as_deref(), Some("foot"));
        assert_eq!(s.owner_window_id, Some(0));
        assert_eq!(s.window_offset, Some(point(90, 40)));
        assert_eq!(s.client_delta, Some(point(10, 10)));
        assert_eq!(
            s.visibility_rects.as_ref().unwrap()[0],
            ExclusiveRectangle { left: 10, top: 10, right: 710, bottom: 510 }
        );
        assert_ne!(s.style.unwrap().extended_style & WS_EX_APPWINDOW, 0);
        let bytes = update_data(&[desktop_hooked(), o, desktop_state(Some(5), vec![5])]).unwrap();
        assert_eq!(u16::from_le_bytes([bytes[0], bytes[1]]), 3);
    }

    #[test]
    fn updates_carry_only_changes() {
        let a = window();
        assert!(update_window(&a, &a).is_none());
        let mut b = a.clone();
        b.title = "vim".into();
        let o = update_window(&a, &b).unwrap();
        let s = state(&o);
        assert_eq!(s.title.as_deref(), Some("vim"));
        assert!(s.window_offset.is_none() && s.show_state.is_none());
        let mut c = a.clone();
        c.show = Show::Minimized;
        c.window.x += 5;
        let s2 = update_window(&a, &c).unwrap();
        let s = state(&s2);
        assert_eq!(s.show_state, Some(ShowState::Minimized));
        assert_eq!(s.window_offset, Some(point(95, 40)));
    }

    #[test]
    fn popups_are_owned_tool_windows() {
        let mut p = window();
        p.kind = WindowKind::Popup;
        p.owner = 4;
        let st = style(&p);
        assert_ne!(st.style & WS_POPUP, 0);
        assert_ne!(st.extended_style & WS_EX_TOOLWINDOW, 0);
        assert_eq!(state(&new_window(&p)).owner_window_id, Some(4));
    }

    #[test]
    fn long_titles_are_cut() {
        let mut w = window();
        w.title = "x".repeat(5000);
        assert_eq!(title(&w).len(), MAX_TITLE_UNITS);
        // Astral characters take two units each and are never split.
        w.title = "𝄞".repeat(200);
        assert_eq!(title(&w).chars().count(), MAX_TITLE_UNITS / 2);
        assert!(update_data(&[new_window(&w)]).is_ok(), "a cut title encodes");
    }
}

/// A window's icon: 32 bpp straight-alpha BGRA (`size`×`size`, top row first), sent inline
/// and not cached. `big` is the taskbar / Alt+Tab icon, else the small caption icon.
/// Room for a window icon order's headers: order header, window id, icon info fields.
const ICON_ORDER_OVERHEAD: usize = 64;

pub fn icon(window: u32, big: bool, size: u16, bgra: &[u8]) -> Option<WindowingOrder> {
    use ironrdp_pdu::window::{IconInfo, IconSource, WindowIcon};
    let n = size as usize;
    if n == 0 || bgra.len() != n * n * 4 {
        return None;
    }
    // A windowing order's size is a 16-bit field: its pixels, mask and headers must fit
    // (up to 125 px; hosts ask for 96 at most).
    if n * n * 4 + n.div_ceil(16) * 2 * n + ICON_ORDER_OVERHEAD > u16::MAX as usize {
        tracing::debug!(window, size, "an icon too large for a windowing order is not sent");
        return None;
    }
    // Bottom-up rows; 32 bpp rows are always 2-byte aligned.
    let mut bits_color = Vec::with_capacity(bgra.len());
    for row in (0..n).rev() {
        bits_color.extend_from_slice(&bgra[row * n * 4..(row + 1) * n * 4]);
    }
    // With an alpha channel the AND mask is all zeros; rows padded to 2 bytes.
    let bits_mask = vec![0u8; n.div_ceil(16) * 2 * n];
    Some(WindowingOrder::Window(WindowOrder {
        window_id: window,
        is_new: false,
        body: WindowOrderBody::Icon(WindowIcon {
            big,
            overlay: false,
            icon: IconSource::Icon(IconInfo {
                cache_entry: 0xFFFF,
                cache_id: 0xFF,
                bpp: 32,
                width: size,
                height: size,
                bits_mask,
                color_table: Vec::new(),
                bits_color,
            }),
        }),
    }))
}

#[cfg(test)]
mod icon_tests {
    use super::*;

    #[test]
    fn icon_orders_encode_bottom_up() {
        let mut bgra = vec![0u8; 32 * 32 * 4];
        bgra[..4].copy_from_slice(&[1, 2, 3, 255]);
        let o = icon(9, true, 32, &bgra).unwrap();
        let WindowingOrder::Window(WindowOrder { body: WindowOrderBody::Icon(i), .. }) = &o else { panic!() };
        let ironrdp_pdu::window::IconSource::Icon(info) = &i.icon else { panic!() };
        assert_eq!(&info.bits_color[31 * 32 * 4..31 * 32 * 4 + 4], &[1, 2, 3, 255]);
        assert_eq!(info.bits_mask.len(), 4 * 32);
        assert!(update_data(&[o]).unwrap().len() > 32 * 32 * 4);
        assert!(icon(9, true, 32, &bgra[..10]).is_none());
    }

    #[test]
    fn icons_too_large_for_an_order_are_not_made() {
        let icon_of = |n: usize| icon(1, true, n as u16, &vec![0x80; n * n * 4]);
        let order = icon_of(96).expect("a 96 px icon");
        assert!(update_data(&[order]).is_ok());
        let order = icon_of(120).expect("a 120 px icon");
        assert!(update_data(&[order]).is_ok(), "120 px still fits");
        assert!(icon_of(128).is_none());
        assert!(icon_of(256).is_none());
    }
}
