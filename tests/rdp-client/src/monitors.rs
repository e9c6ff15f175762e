//! Host monitor layouts: what the test client announces at connect (Client Monitor Data and
//! Client Monitor Extended Data) and sends later on the DisplayControl channel, from one
//! description, [`MonitorSpec`].

use ironrdp_displaycontrol::pdu::{DisplayControlMonitorLayout, MonitorLayoutEntry};
use ironrdp_pdu::gcc::{
    ClientMonitorData, ClientMonitorExtendedData, ExtendedMonitorInfo, Monitor, MonitorFlags, MonitorOrientation,
};

/// One host monitor: its rectangle in the host's virtual desktop (physical pixels, the primary
/// monitor at 0,0, others anywhere, negative coordinates included) and its desktop scale factor
/// in percent (100–500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorSpec {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub scale: u32,
    pub primary: bool,
}

impl MonitorSpec {
    /// A monitor at `(x, y)` of `width`×`height` pixels at `scale` percent; not primary.
    pub const fn new(x: i32, y: i32, width: u32, height: u32, scale: u32) -> MonitorSpec {
        MonitorSpec { x, y, width, height, scale, primary: false }
    }

    /// The same monitor, marked primary.
    pub const fn primary(self) -> MonitorSpec {
        MonitorSpec { primary: true, ..self }
    }

    /// The nearest device scale factor RDP has (100, 140 or 180) for the desktop scale.
    fn device_scale(&self) -> u32 {
        match self.scale {
            0..=120 => 100,
            121..=160 => 140,
            _ => 180,
        }
    }

    /// A plausible physical size in millimetres: a 96 dpi screen at 100 %, denser at more.
    fn physical_mm(&self) -> (u32, u32) {
        let dpi = 96.0 * f64::from(self.scale.max(100)) / 100.0;
        let mm = |px: u32| (f64::from(px) * 25.4 / dpi).round() as u32;
        (mm(self.width), mm(self.height))
    }
}

/// The bounding box of all monitors: (left, top, width, height). RDP input coordinates count
/// from its top-left corner.
pub fn bounding_box(monitors: &[MonitorSpec]) -> (i32, i32, u32, u32) {
    let left = monitors.iter().map(|m| m.x).min().unwrap_or(0);
    let top = monitors.iter().map(|m| m.y).min().unwrap_or(0);
    let right = monitors.iter().map(|m| m.x + m.width as i32).max().unwrap_or(0);
    let bottom = monitors.iter().map(|m| m.y + m.height as i32).max().unwrap_or(0);
    (left, top, (right - left) as u32, (bottom - top) as u32)
}

/// Whether monitor `i` is the primary one: the one marked so, else the first.
fn is_primary(monitors: &[MonitorSpec], i: usize) -> bool {
    match monitors.iter().position(|m| m.primary) {
        Some(p) => p == i,
        None => i == 0,
    }
}

/// TS_UD_CS_MONITOR: the rectangles (inclusive right and bottom) and the primary flag.
pub fn client_monitor_data(monitors: &[MonitorSpec]) -> ClientMonitorData {
    ClientMonitorData {
        monitors: monitors
            .iter()
            .enumerate()
            .map(|(i, m)| Monitor {
                left: m.x,
                top: m.y,
                right: m.x + m.width as i32 - 1,
                bottom: m.y + m.height as i32 - 1,
                flags: if is_primary(monitors, i) { MonitorFlags::PRIMARY } else { MonitorFlags::empty() },
            })
            .collect(),
    }
}

/// TS_UD_CS_MONITOR_EX: physical size, orientation and the scale factors, in the same order.
pub fn client_monitor_extended_data(monitors: &[MonitorSpec]) -> ClientMonitorExtendedData {
    ClientMonitorExtendedData {
        extended_monitors_info: monitors
            .iter()
            .map(|m| {
                let (physical_width, physical_height) = m.physical_mm();
                ExtendedMonitorInfo {
                    physical_width,
                    physical_height,
                    orientation: MonitorOrientation::Landscape,
                    desktop_scale_factor: m.scale,
                    device_scale_factor: m.device_scale(),
                }
            })
            .collect(),
    }
}

/// DISPLAYCONTROL_MONITOR_LAYOUT_PDU's entries for the same monitors.
pub fn display_control_layout(monitors: &[MonitorSpec]) -> anyhow::Result<DisplayControlMonitorLayout> {
    let entries = monitors
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let entry = if is_primary(monitors, i) {
                MonitorLayoutEntry::new_primary(m.width, m.height)?
            } else {
                MonitorLayoutEntry::new_secondary(m.width, m.height)?
            };
            let (pw, ph) = m.physical_mm();
            entry.with_position(m.x, m.y)?.with_desktop_scale_factor(m.scale)?.with_physical_dimensions(pw, ph)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DisplayControlMonitorLayout::new(&entries)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIDE_BY_SIDE: [MonitorSpec; 2] =
        [MonitorSpec::new(0, 0, 1280, 800, 150), MonitorSpec::new(1280, -100, 1024, 768, 100)];

    #[test]
    fn gcc_blocks_describe_every_monitor() {
        let data = client_monitor_data(&SIDE_BY_SIDE);
        assert_eq!(data.monitors.len(), 2);
        let m = &data.monitors[1];
        assert_eq!((m.left, m.top, m.right, m.bottom), (1280, -100, 2303, 667));
        assert_eq!(data.monitors[0].flags, MonitorFlags::PRIMARY);
        assert_eq!(m.flags, MonitorFlags::empty());
        let ex = client_monitor_extended_data(&SIDE_BY_SIDE);
        let scales: Vec<_> = ex.extended_monitors_info.iter().map(|e| e.desktop_scale_factor).collect();
        assert_eq!(scales, [150, 100]);
        assert_eq!(ex.extended_monitors_info[0].device_scale_factor, 140);
    }

    #[test]
    fn an_explicit_primary_wins_and_the_box_spans_everything() {
        let monitors = [MonitorSpec::new(-1024, 0, 1024, 768, 100), MonitorSpec::new(0, 0, 1280, 800, 200).primary()];
        let data = client_monitor_data(&monitors);
        assert_eq!(data.monitors[0].flags, MonitorFlags::empty());
        assert_eq!(data.monitors[1].flags, MonitorFlags::PRIMARY);
        assert_eq!(bounding_box(&monitors), (-1024, 0, 2304, 800));
        let layout = display_control_layout(&monitors).unwrap();
        let entries = layout.monitors();
        assert!(!entries[0].is_primary() && entries[1].is_primary());
        assert_eq!(entries[0].position(), Some((-1024, 0)));
        assert_eq!(entries[1].desktop_scale_factor(), Some(200));
    }
}
