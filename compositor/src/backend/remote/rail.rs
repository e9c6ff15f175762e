//! What a RemoteApp host asks of windows (RAIL): activation, system commands (minimize,
//! maximize, restore, close), its work areas, keyboard layout and app ids.

use wayrail_link::{RailCommand, RailEvent};
use wayrail_rail::place;

use super::{rdp_of, send_icons};
use crate::state::State;
use crate::window::{ShowState, WindowId, WindowInfo, WindowKind};

/// Work areas kept: one for each monitor a host may have.
const MAX_WORK_AREAS: usize = 16;

pub(super) fn handle_rail_event(state: &mut State, event: RailEvent) {
    use wayrail_rail::channel::SysCommand as Sc;
    match event {
        RailEvent::Ready { client_status } => {
            tracing::info!(client_status = format!("{client_status:#x}"), "RemoteApp ready");
            let host = place::HostAbilities::from_client_status(client_status);
            state.host_move_resize = host.local_move_size;
            if let Some((rdp, state)) = rdp_of(state) {
                if std::mem::replace(&mut rdp.host, host).icon_sizes() != host.icon_sizes() {
                    // Icons go again at the size this host wants.
                    rdp.icons_sent.clear();
                    let infos: Vec<WindowInfo> = state.windows.iter().cloned().collect();
                    for info in infos.iter().filter(|i| i.kind == WindowKind::Toplevel) {
                        send_icons(rdp, state, info);
                    }
                }
            }
        }
        RailEvent::WorkArea(rect) => {
            tracing::debug!(?rect, "host work area");
            // One per monitor: a new one replaces those it overlaps.
            let area = crate::window::Rect::new(rect.x, rect.y, rect.width as i32, rect.height as i32);
            add_work_area(&mut state.work_areas, area);
        }
        RailEvent::Activate { window, enabled } => {
            let id = WindowId(window);
            if enabled && state.windows.get(id).is_some() && state.windows.active() != Some(id) {
                state.set_minimized(id, false);
                state.focus_window(Some(id));
            }
        }
        RailEvent::SysCommand { window, command } => {
            let id = WindowId(window);
            let Some(info) = state.windows.get(id).cloned() else { return };
            match command {
                Sc::Minimize => {
                    state.set_minimized(id, true);
                }
                Sc::Maximize => {
                    state.set_maximized(id, true);
                }
                Sc::Restore => {
                    if info.state == ShowState::Minimized {
                        state.set_minimized(id, false);
                    } else {
                        state.set_maximized(id, false);
                    }
                }
                Sc::Close => {
                    state.close_window(id);
                }
                other => tracing::debug!(?other, %id, "system command ignored"),
            }
        }
        RailEvent::KeyboardLayout { klid } => {
            if state.config.keyboard.layout.is_empty() {
                if let Some((layout, variant)) = wayrail_link::klid_to_xkb(klid) {
                    if let Err(err) = state.set_keymap(layout, variant) {
                        tracing::warn!("{err:#}");
                    }
                }
            }
        }
        RailEvent::GetAppId { window } => {
            let Some(info) = state.windows.get(WindowId(window)).cloned() else { return };
            let pid = info.pid.unwrap_or(0).max(0) as u32;
            let executable = info
                .pid
                .and_then(|p| std::fs::read_link(format!("/proc/{p}/exe")).ok())
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let app_id = place::app_id(&info.app_id, &info.title);
            if let Some((rdp, _)) = rdp_of(state) {
                rdp.link.send_rail(RailCommand::AppId { window, app_id, pid, executable });
            }
        }
        other => tracing::debug!(?other, "RemoteApp request not handled yet"),
    }
}

/// A host's work area for one monitor: it replaces those it overlaps. Empty ones are ignored,
/// and no more than one a monitor are kept (the oldest go), whatever a host sends.
fn add_work_area(areas: &mut Vec<crate::window::Rect>, area: crate::window::Rect) {
    if area.width <= 0 || area.height <= 0 {
        tracing::debug!(?area, "an empty work area ignored");
        return;
    }
    areas.retain(|wa| wa.intersection_area(&area) == 0);
    if areas.len() >= MAX_WORK_AREAS {
        areas.remove(0);
    }
    areas.push(area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::Rect;

    #[test]
    fn work_areas_replace_what_they_overlap_and_stay_bounded() {
        let mut areas = Vec::new();
        add_work_area(&mut areas, Rect::new(0, 0, 1920, 1040));
        add_work_area(&mut areas, Rect::new(1920, 0, 1280, 984));
        add_work_area(&mut areas, Rect::new(0, 0, 1920, 1000));
        assert_eq!(areas, [Rect::new(1920, 0, 1280, 984), Rect::new(0, 0, 1920, 1000)]);
        // Empty ones, however many, change nothing.
        for _ in 0..1000 {
            add_work_area(&mut areas, Rect::new(5, 5, 0, 0));
        }
        assert_eq!(areas.len(), 2);
        // Disjoint ones beyond one a monitor push the oldest out.
        for i in 0..100 {
            add_work_area(&mut areas, Rect::new(10_000 + i * 10, 0, 10, 10));
        }
        assert_eq!(areas.len(), MAX_WORK_AREAS);
        assert_eq!(areas.last(), Some(&Rect::new(10_990, 0, 10, 10)));
    }
}
