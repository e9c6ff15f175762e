//! The client's monitors: what it announces at connect (GCC Client Monitor Data, Client
//! Monitor Extended Data, Client Core Data's scale factor) and later through display control,
//! checked once here so the rest of wayrail can trust them. Coordinates are the client's
//! virtual desktop in physical pixels, with the primary monitor's top-left at (0,0).

use std::borrow::Cow;

pub use wayrail_link::HostMonitor;

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
/// A monitor's top-left corner lies within ±this on both axes. Clients send any i32 (before
/// the login, too); within this range no sum of a coordinate and a side overflows an i32.
pub const MAX_COORDINATE: i32 = 32768;

fn clamp_i32(v: i64) -> i32 {
    v.clamp(i32::MIN.into(), i32::MAX.into()) as i32
}

/// The smallest rectangle around every monitor, computed in i64: (left, top, width, height).
fn bounding_box_wide(monitors: &[HostMonitor]) -> (i64, i64, i64, i64) {
    let edges: Vec<_> = monitors.iter().map(HostMonitor::edges).collect();
    let left = edges.iter().map(|e| e.0).min().unwrap_or(0);
    let top = edges.iter().map(|e| e.1).min().unwrap_or(0);
    let right = edges.iter().map(|e| e.2).max().unwrap_or(0);
    let bottom = edges.iter().map(|e| e.3).max().unwrap_or(0);
    (left, top, (right - left).max(0), (bottom - top).max(0))
}

/// The smallest rectangle around every monitor: (x, y, width, height). Exact for validated
/// monitors; saturated for others.
pub fn bounding_box(monitors: &[HostMonitor]) -> (i32, i32, u32, u32) {
    let (left, top, width, height) = bounding_box_wide(monitors);
    let side = |v: i64| v.clamp(0, u32::MAX.into()) as u32;
    (clamp_i32(left), clamp_i32(top), side(width), side(height))
}

/// Refuses monitors whose top-left corner lies beyond ±`MAX_COORDINATE`: no real host has
/// them, and a client that sends them is broken or hostile.
pub fn check_coordinates(monitors: &[HostMonitor]) -> Result<(), String> {
    let range = -MAX_COORDINATE..=MAX_COORDINATE;
    match monitors.iter().find(|m| !range.contains(&m.x) || !range.contains(&m.y)) {
        Some(m) => Err(format!(
            "a monitor at {},{} (coordinates must be within -{MAX_COORDINATE}..={MAX_COORDINATE})",
            m.x, m.y
        )),
        None => Ok(()),
    }
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
                from_monitor_def(m, ext.map_or(core_scale, |e| scale_percent(Some(e.desktop_scale_factor))))
            })
            .collect(),
        _ => vec![HostMonitor { x: 0, y: 0, width: desktop.0, height: desktop.1, primary: true, scale: core_scale }],
    }
}

/// One TS_MONITOR_DEF (inclusive edges, any i32 the client sent) as a monitor.
fn from_monitor_def(m: &gcc::Monitor, scale: u32) -> HostMonitor {
    let side = |low: i32, high: i32| (i64::from(high) - i64::from(low) + 1).clamp(0, u32::MAX.into()) as u32;
    HostMonitor {
        x: m.left,
        y: m.top,
        width: side(m.left, m.right),
        height: side(m.top, m.bottom),
        primary: m.flags.contains(MonitorFlags::PRIMARY),
        scale,
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
    check_coordinates(&monitors)?;
    for m in &monitors {
        if !(MIN_SIDE..=MAX_SIDE).contains(&m.width) || !(MIN_SIDE..=MAX_SIDE).contains(&m.height) {
            return Err(format!("a {}x{} monitor (sides must be {MIN_SIDE}..={MAX_SIDE})", m.width, m.height));
        }
    }
    let (_, _, w, h) = bounding_box_wide(&monitors);
    if w > i64::from(MAX_DESKTOP) || h > i64::from(MAX_DESKTOP) {
        return Err(format!("a {w}x{h} desktop (at most {MAX_DESKTOP}x{MAX_DESKTOP})"));
    }
    for (i, a) in monitors.iter().enumerate() {
        for b in &monitors[i + 1..] {
            let ((al, at, ar, ab), (bl, bt, br, bb)) = (a.edges(), b.edges());
            if al < br && bl < ar && at < bb && bt < ab {
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
            right: m.right().saturating_sub(1),
            bottom: m.bottom().saturating_sub(1),
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
    fn coordinates_far_out_are_refused_without_overflow() {
        let primary = mon(0, 0, 1920, 1080, true);
        // i32 sums would wrap here: the bounding width would come out as 0.
        let err = validate(vec![primary, mon(i32::MIN, 0, 200, 200, false)]).unwrap_err();
        assert!(err.contains("-2147483648,0") && err.contains("32768"), "{err}");
        assert!(validate(vec![primary, mon(0, i32::MIN, 200, 200, false)]).is_err());
        assert!(validate(vec![primary, mon(i32::MAX, 0, 8192, 200, false)]).is_err());
        assert!(validate(vec![primary, mon(0, i32::MAX, 200, 8192, false)]).is_err());
        assert!(validate(vec![mon(i32::MAX, i32::MAX, 8192, 8192, true)]).is_err());
        assert!(validate(vec![mon(i32::MIN, i32::MIN, 200, 200, true)]).is_err());
        // Helpers saturate instead of wrapping for what validation refuses.
        let far = mon(i32::MAX, i32::MAX, u32::MAX, u32::MAX, false);
        assert_eq!((far.right(), far.bottom()), (i32::MAX, i32::MAX));
        assert_eq!(bounding_box(&[mon(i32::MIN, 0, 200, 200, false), far]), (i32::MIN, 0, u32::MAX, u32::MAX));
        assert!(check_coordinates(&[far]).is_err());
    }

    #[test]
    fn sums_near_the_limits_are_exact() {
        // Sides whose sums overlap only when computed without wrapping.
        let a = mon(MAX_COORDINATE, 0, MAX_SIDE, 200, true);
        let b = mon(MAX_COORDINATE + 1, 0, 200, 200, false);
        assert!(validate(vec![a, b]).is_err(), "b's corner is out of range");
        let b = mon(MAX_COORDINATE, 100, 200, 200, false);
        assert!(validate(vec![a, b]).unwrap_err().contains("overlap"));
        // Edges at the extremes: the far corners of a monitor may go beyond the range.
        let a = mon(MAX_COORDINATE, MAX_COORDINATE, MAX_SIDE, MAX_SIDE, true);
        assert_eq!(validate(vec![a]).unwrap()[0].right(), MAX_COORDINATE + MAX_SIDE as i32);
        assert_eq!(bounding_box(&[a]), (MAX_COORDINATE, MAX_COORDINATE, MAX_SIDE, MAX_SIDE));
        // A desktop wider than the limit, by sums that fit in i32 but not in u16.
        let a = mon(-MAX_COORDINATE, 0, 200, 200, true);
        let b = mon(MAX_COORDINATE - 200, 0, 200, 200, false);
        assert!(validate(vec![a, b]).unwrap_err().contains("65536x200"));
    }

    #[test]
    fn coordinate_range_edges() {
        let at = |x, y| validate(vec![mon(x, y, 200, 200, true)]);
        for (x, y) in [(-MAX_COORDINATE, 0), (MAX_COORDINATE, 0), (0, -MAX_COORDINATE), (0, MAX_COORDINATE)] {
            assert!(at(x, y).is_ok(), "{x},{y} is in range");
        }
        for (x, y) in
            [(-MAX_COORDINATE - 1, 0), (MAX_COORDINATE + 1, 0), (0, -MAX_COORDINATE - 1), (0, MAX_COORDINATE + 1)]
        {
            assert!(at(x, y).is_err(), "{x},{y} is out of range");
        }
    }

    #[test]
    fn hostile_gcc_monitors_are_read_without_overflow() {
        let def = |left, top, right, bottom| {
            from_monitor_def(&gcc::Monitor { left, top, right, bottom, flags: MonitorFlags::PRIMARY }, 100)
        };
        let m = def(0, 0, 1919, 1079);
        assert_eq!((m.x, m.y, m.width, m.height, m.primary), (0, 0, 1920, 1080, true));
        assert_eq!(def(i32::MIN, i32::MIN, i32::MAX, i32::MAX).width, u32::MAX);
        assert_eq!(def(i32::MAX, 0, i32::MIN, 0).width, 0);
        let ms = vec![m, def(i32::MIN, 0, i32::MIN + 199, 199)];
        assert!(validate(ms).unwrap_err().contains("-2147483648"));
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
