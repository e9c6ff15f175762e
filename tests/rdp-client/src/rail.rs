//! RemoteApp on the client side: the `rail` static channel ([`RailClient`]: answers the
//! server's handshake with its own, a client status, optional system parameters and an
//! Exec, and records what the server sends), the host's window list rebuilt from the
//! windowing orders ([`HostWindows`]), and each RemoteApp window's pixels rebuilt from the
//! EGFX window updates ([`WindowImage`]).

use std::collections::BTreeMap;

use ironrdp_core::{decode, impl_as_any};
use ironrdp_egfx::compositor::WindowUpdate;
use ironrdp_pdu::gcc::ChannelName;
use ironrdp_pdu::window::{
    DesktopOrder, ShowState, WindowOrderBody, WindowPoint, WindowSize, WindowState, WindowingOrder,
};
use ironrdp_pdu::PduResult;
use ironrdp_rail::{
    ClientStatusPdu, ClientSystemParameter, ClientSystemParametersPdu, ExecutePdu, HandshakePdu, RailPdu,
    SystemParameterRectangle,
};
use ironrdp_svc::{SvcClientProcessor, SvcMessage, SvcProcessor};

/// The client's end of the `rail` static channel.
#[derive(Debug, Default)]
pub struct RailClient {
    /// ClientStatus flags sent after the handshake (`ClientStatusPdu::*`).
    pub status_flags: u32,
    /// A work area (left, top, right, bottom) sent as a client system parameter.
    pub work_area: Option<(u16, u16, u16, u16)>,
    /// More work areas sent after it, one a monitor, as hosts with several monitors do.
    pub monitor_work_areas: Vec<(u16, u16, u16, u16)>,
    /// The Exec sent right after the handshake, if any.
    pub exec: Option<ExecutePdu>,
    /// Every PDU the server sent, decoded, in order.
    pub received: Vec<RailPdu>,
    /// Server payloads that did not decode.
    pub undecodable: Vec<Vec<u8>>,
    handshake_answered: bool,
}

impl_as_any!(RailClient);

impl RailClient {
    /// A client that says it moves and sizes windows itself (ALLOW_LOCAL_MOVE_SIZE), like
    /// FreeRDP, and runs `exec` (program, arguments) once the handshake is done.
    pub fn new(exec: Option<(&str, &str)>) -> RailClient {
        RailClient {
            status_flags: ClientStatusPdu::ALLOW_LOCAL_MOVE_SIZE | ClientStatusPdu::AUTO_RECONNECT,
            exec: exec.map(|(program, arguments)| ExecutePdu {
                flags: 0,
                executable: program.to_string(),
                working_directory: String::new(),
                arguments: arguments.to_string(),
            }),
            ..Default::default()
        }
    }

    /// Whether the client answered the server's handshake.
    pub fn handshake_done(&self) -> bool {
        self.handshake_answered
    }

    /// The Exec results the server sent.
    pub fn exec_results(&self) -> Vec<&ironrdp_rail::ExecuteResultPdu> {
        self.received
            .iter()
            .filter_map(|p| match p {
                RailPdu::ExecuteResult(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    fn answer_handshake(&mut self) -> Vec<SvcMessage> {
        self.handshake_answered = true;
        let mut out = vec![
            SvcMessage::from(RailPdu::Handshake(HandshakePdu { build_number: 0x1DB1 })),
            SvcMessage::from(RailPdu::ClientStatus(ClientStatusPdu { flags: self.status_flags })),
        ];
        for &(left, top, right, bottom) in self.work_area.iter().chain(&self.monitor_work_areas) {
            out.push(SvcMessage::from(RailPdu::ClientSystemParameters(ClientSystemParametersPdu {
                parameter: ClientSystemParameter::WorkArea(SystemParameterRectangle { left, top, right, bottom }),
            })));
        }
        if let Some(exec) = self.exec.clone() {
            out.push(SvcMessage::from(RailPdu::Execute(exec)));
        }
        out
    }
}

impl SvcProcessor for RailClient {
    fn channel_name(&self) -> ChannelName {
        ChannelName::from_static(b"rail\0\0\0\0")
    }

    fn process(&mut self, payload: &[u8]) -> PduResult<Vec<SvcMessage>> {
        let pdu = match decode::<RailPdu>(payload) {
            Ok(pdu) => pdu,
            Err(err) => {
                tracing::warn!("undecodable RAIL PDU from the server: {err}");
                self.undecodable.push(payload.to_vec());
                return Ok(Vec::new());
            }
        };
        let answer = matches!(pdu, RailPdu::Handshake(_) | RailPdu::HandshakeEx(_)) && !self.handshake_answered;
        self.received.push(pdu);
        Ok(if answer { self.answer_handshake() } else { Vec::new() })
    }
}

impl SvcClientProcessor for RailClient {}

/// What the host knows of one RemoteApp window, from the windowing orders so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostWindow {
    pub id: u32,
    pub owner: u32,
    pub style: u32,
    pub extended_style: u32,
    pub show_state: Option<ShowState>,
    pub title: String,
    /// (x, y) of the whole window on the desktop.
    pub window_offset: (i32, i32),
    /// (width, height) of the whole window.
    pub window_size: (u32, u32),
    pub client_offset: (i32, i32),
    pub client_size: (u32, u32),
    pub visible_offset: (i32, i32),
    /// (left, top, right, bottom), relative to the visible offset.
    pub visibility_rects: Vec<(u16, u16, u16, u16)>,
    /// How many orders changed this window (the first created it).
    pub orders: usize,
}

impl HostWindow {
    fn apply(&mut self, s: &WindowState) {
        self.orders += 1;
        if let Some(owner) = s.owner_window_id {
            self.owner = owner;
        }
        if let Some(style) = s.style {
            self.style = style.style;
            self.extended_style = style.extended_style;
        }
        if let Some(show) = s.show_state {
            self.show_state = Some(show);
        }
        if let Some(title) = &s.title {
            self.title = title.clone();
        }
        let point = |p: WindowPoint| (p.x, p.y);
        let size = |s: WindowSize| (s.width, s.height);
        if let Some(p) = s.window_offset {
            self.window_offset = point(p);
        }
        if let Some(s) = s.window_size {
            self.window_size = size(s);
        }
        if let Some(p) = s.client_offset {
            self.client_offset = point(p);
        }
        if let Some(s) = s.client_area_size {
            self.client_size = size(s);
        }
        if let Some(p) = s.visible_offset {
            self.visible_offset = point(p);
        }
        if let Some(rects) = &s.visibility_rects {
            self.visibility_rects = rects.iter().map(|r| (r.left, r.top, r.right, r.bottom)).collect();
        }
    }
}

/// The host's windows as the windowing orders describe them: created, updated, deleted.
#[derive(Debug, Clone, Default)]
pub struct HostWindows {
    pub windows: BTreeMap<u32, HostWindow>,
    /// Every window id a Deleted order named, in order.
    pub deleted: Vec<u32>,
    /// The active window of the last monitored-desktop order that named one.
    pub active: Option<u32>,
    /// The z-order (top first) of the last monitored-desktop order that had one.
    pub z_order: Vec<u32>,
    /// Orders for windows that do not exist, or new-window orders for existing ones.
    pub inconsistencies: Vec<String>,
}

impl HostWindows {
    /// Replays `orders` from the start.
    pub fn from_orders(orders: &[WindowingOrder]) -> HostWindows {
        let mut out = HostWindows::default();
        for o in orders {
            out.apply(o);
        }
        out
    }

    pub fn apply(&mut self, order: &WindowingOrder) {
        match order {
            WindowingOrder::Window(w) => match &w.body {
                WindowOrderBody::State(state) => {
                    let exists = self.windows.contains_key(&w.window_id);
                    if w.is_new == exists {
                        self.inconsistencies.push(format!(
                            "{} order for window {:#x}, which {}",
                            if w.is_new { "a new-window" } else { "an update" },
                            w.window_id,
                            if exists { "exists" } else { "does not exist" }
                        ));
                    }
                    let entry = self
                        .windows
                        .entry(w.window_id)
                        .or_insert_with(|| HostWindow { id: w.window_id, ..Default::default() });
                    entry.apply(state);
                }
                WindowOrderBody::Icon(_) => {}
                WindowOrderBody::Deleted => {
                    if self.windows.remove(&w.window_id).is_none() {
                        self.inconsistencies.push(format!("a delete order for unknown window {:#x}", w.window_id));
                    }
                    self.deleted.push(w.window_id);
                }
            },
            WindowingOrder::Desktop(DesktopOrder::ActivelyMonitored(d)) => {
                if let Some(active) = d.active_window_id {
                    self.active = (active != 0xFFFF_FFFF).then_some(active);
                }
                if let Some(z) = &d.z_order {
                    self.z_order = z.clone();
                }
            }
            WindowingOrder::Desktop(DesktopOrder::NonMonitored) => {
                self.windows.clear();
            }
            WindowingOrder::NotifyIcon(_) => {}
        }
    }
}

/// The pixels of one RemoteApp window as the host would show them, rebuilt from EGFX window
/// updates (RGBA, `width * 4` bytes a row).
#[derive(Debug, Clone)]
pub struct WindowImage {
    pub width: u16,
    pub height: u16,
    pub rgba: Vec<u8>,
    /// How many window updates painted into it.
    pub updates: usize,
}

impl WindowImage {
    fn new(width: u16, height: u16) -> WindowImage {
        WindowImage { width, height, rgba: vec![0; usize::from(width) * usize::from(height) * 4], updates: 0 }
    }

    /// Paints one update (a new size starts a new, black picture).
    pub(crate) fn paint(&mut self, u: &WindowUpdate) {
        if (u.width, u.height) != (self.width, self.height) {
            *self = WindowImage::new(u.width, u.height);
        }
        self.updates += 1;
        let r = &u.region;
        let (left, top) = (usize::from(r.left), usize::from(r.top));
        let (right, bottom) = (usize::from(r.right.min(self.width)), usize::from(r.bottom.min(self.height)));
        let region_width = usize::from(r.right.saturating_sub(r.left));
        if right <= left || bottom <= top {
            return;
        }
        for row in top..bottom {
            let src = (row - top) * region_width * 4;
            let dst = (row * usize::from(self.width) + left) * 4;
            let len = (right - left) * 4;
            if let Some(from) = u.data.get(src..src + len) {
                self.rgba[dst..dst + len].copy_from_slice(from);
            }
        }
    }

    /// The colour at (x, y) as [r, g, b, a].
    ///
    /// # Panics
    ///
    /// When (x, y) is outside the window.
    pub fn pixel(&self, x: u16, y: u16) -> [u8; 4] {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) is outside the {}x{} window",
            self.width,
            self.height
        );
        let i = (usize::from(y) * usize::from(self.width) + usize::from(x)) * 4;
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2], self.rgba[i + 3]]
    }

    /// How many pixels of the rectangle (x, y, width, height) are not `rgb`.
    pub fn count_not(&self, (x, y, w, h): (u16, u16, u16, u16), rgb: [u8; 3]) -> usize {
        let mut n = 0;
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                let [r, g, b, _] = self.pixel(xx, yy);
                if [r, g, b] != rgb {
                    n += 1;
                }
            }
        }
        n
    }
}

pub(crate) fn paint_window_update(images: &mut BTreeMap<u64, WindowImage>, u: &WindowUpdate) {
    images.entry(u.window_id).or_insert_with(|| WindowImage::new(u.width, u.height)).paint(u);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironrdp_core::encode_vec;

    #[test]
    fn answers_the_handshake_once() {
        let mut rail = RailClient::new(Some(("foot", "")));
        rail.work_area = Some((0, 0, 800, 600));
        let hs = encode_vec(&RailPdu::Handshake(HandshakePdu { build_number: 1 })).unwrap();
        let out = rail.process(&hs).unwrap();
        assert_eq!(out.len(), 4, "handshake, client status, work area, exec");
        assert!(rail.handshake_done());
        assert!(rail.process(&hs).unwrap().is_empty());
        assert!(rail.process(&[1, 2, 3]).unwrap().is_empty());
        assert_eq!(rail.undecodable.len(), 1);
        assert_eq!(rail.received.len(), 2);
    }

    #[test]
    fn sends_a_work_area_per_monitor() {
        let mut rail = RailClient::new(None);
        rail.monitor_work_areas = vec![(0, 0, 800, 560), (800, 0, 1824, 728)];
        let hs = encode_vec(&RailPdu::Handshake(HandshakePdu { build_number: 1 })).unwrap();
        assert_eq!(rail.process(&hs).unwrap().len(), 4, "handshake, client status, two work areas");
    }
}
