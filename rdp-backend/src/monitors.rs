//! The client's monitors: what it announces at connect (GCC Client Monitor Data, Client
//! Monitor Extended Data, Client Core Data's scale factor) and later through display control,
//! checked once here so the rest of wayrail can trust them. Coordinates are the client's
//! virtual desktop in physical pixels, with the primary monitor's top-left at (0,0).

use std::borrow::Cow;

use ironrdp_core::{decode, encode_vec};
use ironrdp_displaycontrol::pdu::DisplayControlMonitorLayout;
use ironrdp_pdu::gcc::{self, ClientGccBlocks, MonitorFlags};
use ironrdp_pdu::mcs;
use ironrdp_pdu::rdp::headers::{ShareControlHeader, ShareControlPdu, ShareDataPdu};
use ironrdp_pdu::x224::{X224Data, X224};

/// At most this many monitors (what EGFX's ResetGraphics can carry).
pub const MAX_MONITORS: usize = 16;
/// The smallest and largest side of one monitor (MS-RDPEDISP's limits).
pub const MIN_SIDE: u32 = 200;
pub const MAX_SIDE: u32 = 8192;
/// The whole virtual desktop must fit in this (the server's desktop limit).
pub const MAX_DESKTOP: u32 = 8192;

/// One monitor of the host, in physical pixels of its virtual desktop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostMonitor {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub primary: bool,
    /// The desktop scale factor in percent, 100..=500.
    pub scale: u32,
}

impl HostMonitor {
    pub fn right(&self) -> i32 {
        self.x + self.width as i32
    }

    pub fn bottom(&self) -> i32 {
        self.y + self.height as i32
    }
}

/// The smallest rectangle around every monitor: (x, y, width, height).
pub fn bounding_box(monitors: &[HostMonitor]) -> (i32, i32, u32, u32) {
    let left = monitors.iter().map(|m| m.x).min().unwrap_or(0);
    let top = monitors.iter().map(|m| m.y).min().unwrap_or(0);
    let right = monitors.iter().map(|m| m.right()).max().unwrap_or(0);
    let bottom = monitors.iter().map(|m| m.bottom()).max().unwrap_or(0);
    (left, top, (right - left).max(0) as u32, (bottom - top).max(0) as u32)
}

/// A scale factor as clients send it: 0 (unset) and values out of range mean 100 %.
fn scale_percent(value: Option<u32>) -> u32 {
    value.filter(|v| (100..=500).contains(v)).unwrap_or(100)
}

/// The monitors of a Connect Initial's GCC blocks; one monitor of the desktop size when the
/// client sent no monitor data (a single-monitor client usually does not).
pub fn from_gcc(blocks: &ClientGccBlocks) -> Vec<HostMonitor> {
    let core_scale = scale_percent(blocks.core.optional_data.desktop_scale_factor);
    let desktop = (u32::from(blocks.core.desktop_width), u32::from(blocks.core.desktop_height));
    let extended = blocks.monitor_extended.as_ref().map(|e| &e.extended_monitors_info);
    match &blocks.monitor {
        Some(data) if !data.monitors.is_empty() => data
            .monitors
            .iter()
            .enumerate()
            .map(|(i, m)| {
                // The extended data counts only when it has one entry per monitor.
                let ext = extended.filter(|e| e.len() == data.monitors.len()).map(|e| &e[i]);
                HostMonitor {
                    x: m.left,
                    y: m.top,
                    // Inclusive right/bottom edges.
                    width: (i64::from(m.right) - i64::from(m.left) + 1).clamp(0, u32::MAX.into()) as u32,
                    height: (i64::from(m.bottom) - i64::from(m.top) + 1).clamp(0, u32::MAX.into()) as u32,
                    primary: m.flags.contains(MonitorFlags::PRIMARY),
                    scale: ext.map_or(core_scale, |e| scale_percent(Some(e.desktop_scale_factor))),
                }
            })
            .collect(),
        _ => vec![HostMonitor { x: 0, y: 0, width: desktop.0, height: desktop.1, primary: true, scale: core_scale }],
    }
}

/// The monitors of a display control layout.
pub fn from_display_control(layout: &DisplayControlMonitorLayout) -> Vec<HostMonitor> {
    layout
        .monitors()
        .iter()
        .map(|m| {
            let (x, y) = m.position().unwrap_or((0, 0));
            let (width, height) = m.dimensions();
            HostMonitor { x, y, width, height, primary: m.is_primary(), scale: scale_percent(m.desktop_scale_factor()) }
        })
        .collect()
}

/// Checks a layout: 1..=16 monitors of sane sizes that do not overlap and fit in the largest
/// desktop, exactly one primary (the one at 0,0, or the first, when the client named none).
pub fn validate(mut monitors: Vec<HostMonitor>) -> Result<Vec<HostMonitor>, String> {
    if monitors.is_empty() {
        return Err("no monitors".into());
    }
    if monitors.len() > MAX_MONITORS {
        return Err(format!("{} monitors, at most {MAX_MONITORS} are supported", monitors.len()));
    }
    for m in &monitors {
        if !(MIN_SIDE..=MAX_SIDE).contains(&m.width) || !(MIN_SIDE..=MAX_SIDE).contains(&m.height) {
            return Err(format!("a {}x{} monitor (sides must be {MIN_SIDE}..={MAX_SIDE})", m.width, m.height));
        }
    }
    let (_, _, w, h) = bounding_box(&monitors);
    if w > MAX_DESKTOP || h > MAX_DESKTOP {
        return Err(format!("a {w}x{h} desktop (at most {MAX_DESKTOP}x{MAX_DESKTOP})"));
    }
    for (i, a) in monitors.iter().enumerate() {
        for b in &monitors[i + 1..] {
            if a.x < b.right() && b.x < a.right() && a.y < b.bottom() && b.y < a.bottom() {
                return Err(format!("monitors at {},{} and {},{} overlap", a.x, a.y, b.x, b.y));
            }
        }
    }
    let primaries = monitors.iter().filter(|m| m.primary).count();
    if primaries != 1 {
        let chosen = monitors.iter().position(|m| m.x == 0 && m.y == 0).unwrap_or(0);
        for (i, m) in monitors.iter_mut().enumerate() {
            m.primary = i == chosen;
        }
    }
    Ok(monitors)
}

/// The monitors as MS-RDPBCGR TS_MONITOR_DEF entries (inclusive edges).
pub fn to_gcc(monitors: &[HostMonitor]) -> Vec<gcc::Monitor> {
    monitors
        .iter()
        .map(|m| gcc::Monitor {
            left: m.x,
            top: m.y,
            right: m.right() - 1,
            bottom: m.bottom() - 1,
            flags: if m.primary { MonitorFlags::PRIMARY } else { MonitorFlags::empty() },
        })
        .collect()
}

/// The GCC blocks of an MCS Connect Initial, when `frame` is one.
pub fn connect_initial_blocks(frame: &[u8]) -> Option<ClientGccBlocks> {
    let data = decode::<X224<X224Data<'_>>>(frame).ok()?.0;
    let initial = decode::<mcs::ConnectInitial>(data.data.as_ref()).ok()?;
    Some(initial.conference_create_request.into_gcc_blocks())
}

/// `frame` (a Send Data Indication carrying a Monitor Layout PDU) with `monitors` in place of
/// the monitors it lists; None when `frame` is something else.
pub fn rewrite_monitor_layout(frame: &[u8], monitors: &[HostMonitor]) -> Option<Vec<u8>> {
    let indication = decode::<X224<mcs::SendDataIndication<'_>>>(frame).ok()?.0;
    let mut header = decode::<ShareControlHeader>(indication.user_data.as_ref()).ok()?;
    let ShareControlPdu::Data(data) = &mut header.share_control_pdu else { return None };
    let ShareDataPdu::MonitorLayout(layout) = &mut data.share_data_pdu else { return None };
    layout.monitors = to_gcc(monitors);
    let user_data = encode_vec(&header).ok()?;
    let rewritten = mcs::SendDataIndication {
        initiator_id: indication.initiator_id,
        channel_id: indication.channel_id,
        user_data: Cow::Owned(user_data),
    };
    encode_vec(&X224(rewritten)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mon(x: i32, y: i32, width: u32, height: u32, primary: bool) -> HostMonitor {
        HostMonitor { x, y, width, height, primary, scale: 100 }
    }

    #[test]
    fn bounding_box_spans_negative_coordinates_and_gaps() {
        let ms = [mon(0, 0, 1920, 1080, true), mon(-1280, 200, 1280, 1024, false), mon(2000, -300, 800, 600, false)];
        assert_eq!(bounding_box(&ms), (-1280, -300, 4080, 1524));
    }

    #[test]
    fn validation_refuses_what_cannot_be_shown() {
        assert!(validate(vec![]).is_err());
        assert!(validate(vec![mon(0, 0, 100, 1080, true)]).is_err(), "too narrow");
        assert!(validate(vec![mon(0, 0, 1920, 1080, true), mon(1000, 0, 1920, 1080, false)]).is_err(), "overlap");
        assert!(validate(vec![mon(0, 0, 4096, 1080, true), mon(4096, 0, 4097, 1080, false)]).is_err(), "too wide");
        assert!(validate((0..17).map(|i| mon(i * 400, 0, 400, 400, i == 0)).collect()).is_err());
        // Touching edges are fine.
        assert!(validate(vec![mon(0, 0, 1920, 1080, true), mon(1920, 0, 1920, 1080, false)]).is_ok());
    }

    #[test]
    fn exactly_one_primary() {
        let ms = validate(vec![mon(-800, 0, 800, 600, false), mon(0, 0, 1024, 768, false)]).unwrap();
        assert_eq!(ms.iter().map(|m| m.primary).collect::<Vec<_>>(), [false, true]);
        let ms = validate(vec![mon(0, 0, 800, 600, true), mon(800, 0, 800, 600, true)]).unwrap();
        assert_eq!(ms.iter().map(|m| m.primary).collect::<Vec<_>>(), [true, false]);
    }

    #[test]
    fn scale_factors_out_of_range_are_100() {
        assert_eq!(scale_percent(Some(0)), 100);
        assert_eq!(scale_percent(Some(99)), 100);
        assert_eq!(scale_percent(Some(150)), 150);
        assert_eq!(scale_percent(Some(501)), 100);
        assert_eq!(scale_percent(None), 100);
    }

    #[test]
    fn gcc_edges_are_inclusive() {
        let ms = [mon(-1280, 0, 1280, 1024, false), mon(0, 0, 1920, 1080, true)];
        let gcc = to_gcc(&ms);
        assert_eq!((gcc[0].left, gcc[0].right, gcc[0].bottom), (-1280, -1, 1023));
        assert_eq!((gcc[1].right, gcc[1].bottom), (1919, 1079));
        assert!(gcc[1].flags.contains(MonitorFlags::PRIMARY));
    }

    #[test]
    fn a_monitor_layout_pdu_is_rewritten_and_nothing_else() {
        use ironrdp_pdu::rdp::finalization_messages::MonitorLayoutPdu;
        use ironrdp_pdu::rdp::headers::{CompressionFlags, ShareDataHeader, StreamPriority};
        let header = ShareControlHeader {
            share_control_pdu: ShareControlPdu::Data(ShareDataHeader {
                share_data_pdu: ShareDataPdu::MonitorLayout(MonitorLayoutPdu {
                    monitors: to_gcc(&[mon(0, 0, 3000, 1080, true)]),
                }),
                stream_priority: StreamPriority::Medium,
                compression_flags: CompressionFlags::empty(),
                compression_type: ironrdp_pdu::rdp::client_info::CompressionType::K8,
            }),
            pdu_source: 0,
            share_id: 0x1_0000,
        };
        let frame = encode_vec(&X224(mcs::SendDataIndication {
            initiator_id: 1002,
            channel_id: 1003,
            user_data: Cow::Owned(encode_vec(&header).unwrap()),
        }))
        .unwrap();
        let real = [mon(0, 0, 1920, 1080, true), mon(1920, 0, 1080, 1080, false)];
        let rewritten = rewrite_monitor_layout(&frame, &real).expect("a monitor layout");
        let indication = decode::<X224<mcs::SendDataIndication<'_>>>(&rewritten).unwrap().0;
        assert_eq!((indication.initiator_id, indication.channel_id), (1002, 1003));
        let header = decode::<ShareControlHeader>(indication.user_data.as_ref()).unwrap();
        let ShareControlPdu::Data(data) = header.share_control_pdu else { panic!() };
        let ShareDataPdu::MonitorLayout(layout) = data.share_data_pdu else { panic!() };
        assert_eq!(layout.monitors, to_gcc(&real));
        assert!(rewrite_monitor_layout(&[3, 0, 0, 4], &real).is_none());
    }
}
