//! What must hold of the compositor's outputs and windows between any two requests, checked
//! in one place so tests can run random operation sequences and verify after each step.

use std::collections::HashSet;

use crate::state::{window_root, State};
use crate::window::{Rect, ShowState, WindowId, WindowKind};

impl State {
    /// Checks the outputs and the window placement. Outputs: unique names, a positive size,
    /// at most one primary, no two overlapping, the space and the wl_output state where the
    /// entry says, each host rectangle mapping onto its logical one. Windows: unique ids; the
    /// registry, the toplevel list and the space agree on which windows exist, where they are
    /// and in which state; every window on screen is on some output; every window's recorded
    /// output exists and is the one it is mostly on; a maximized window sits at its output's
    /// maximize area and was asked for its size, a fullscreen one likewise for the output's
    /// rectangle; a minimized window comes back onto some output; the registry's stacking
    /// holds the windows on screen (and popups) and the active window is one of them.
    ///
    /// Geometry (the registry's size) comes from the client's last commit, so call it when
    /// clients have answered their configures.
    pub fn verify_invariants(&self) -> Result<(), String> {
        self.verify_outputs()?;
        self.verify_windows()
    }

    fn verify_outputs(&self) -> Result<(), String> {
        let mut names = HashSet::new();
        for o in &self.outputs {
            if !names.insert(o.name.as_str()) {
                return Err(format!("two outputs named {}", o.name));
            }
            let l = o.logical_rect();
            if o.physical_size.0 <= 0 || o.physical_size.1 <= 0 || l.width <= 0 || l.height <= 0 || o.scale <= 0.0 {
                return Err(format!("output {} has no area: {:?} at scale {}", o.name, o.physical_size, o.scale));
            }
            if (o.host_rect.width, o.host_rect.height) != o.physical_size {
                return Err(format!("output {}: host rect {:?} but size {:?}", o.name, o.host_rect, o.physical_size));
            }
            let loc = o.output.current_location();
            let scale = o.output.current_scale().fractional_scale();
            let mode = o.output.current_mode().map(|m| (m.size.w, m.size.h));
            if (loc.x, loc.y) != o.position || scale != o.scale || mode != Some(o.physical_size) {
                return Err(format!(
                    "output {}: wl_output at {loc:?} scale {scale} mode {mode:?}, entry at {:?} scale {} size {:?}",
                    o.name, o.position, o.scale, o.physical_size
                ));
            }
            // smithay's space rounds an output's logical size up where xdg-output (and the
            // entry) round to the nearest: the two may differ by a pixel.
            let Some(g) = self.space.output_geometry(&o.output) else {
                return Err(format!("output {} is not in the space", o.name));
            };
            if (g.loc.x, g.loc.y) != (l.x, l.y)
                || !(0..=1).contains(&(g.size.w - l.width))
                || !(0..=1).contains(&(g.size.h - l.height))
            {
                return Err(format!("output {}: the space has it at {g:?}, the entry at {l:?}", o.name));
            }
            let (x, y) = o.host_to_logical(o.host_rect.x as f64, o.host_rect.y as f64);
            if (x, y) != (l.x as f64, l.y as f64) {
                return Err(format!("output {}: host top-left maps to ({x},{y}), not {:?}", o.name, (l.x, l.y)));
            }
            let host = o.logical_to_host(l);
            if (host.x, host.y) != (o.host_rect.x, o.host_rect.y) || o.host_to_logical_rect(host) != l {
                return Err(format!("output {}: {l:?} is host {host:?}, host rect {:?}", o.name, o.host_rect));
            }
        }
        if self.space.outputs().count() != self.outputs.len() {
            return Err(format!(
                "{} outputs in the space, {} entries",
                self.space.outputs().count(),
                self.outputs.len()
            ));
        }
        if self.outputs.iter().filter(|o| o.primary).count() > 1 {
            return Err("more than one primary output".into());
        }
        for (i, a) in self.outputs.iter().enumerate() {
            for b in &self.outputs[i + 1..] {
                if a.logical_rect().intersection_area(&b.logical_rect()) > 0 {
                    return Err(format!(
                        "outputs {} {:?} and {} {:?} overlap",
                        a.name,
                        a.logical_rect(),
                        b.name,
                        b.logical_rect()
                    ));
                }
            }
        }
        Ok(())
    }

    fn verify_windows(&self) -> Result<(), String> {
        let mut ids = HashSet::new();
        for t in &self.toplevels {
            if let Some(id) = t.id {
                if !ids.insert(id) {
                    return Err(format!("two toplevels have id {id}"));
                }
            }
        }
        for id in self.popup_windows.keys() {
            if !ids.insert(*id) {
                return Err(format!("popup id {id} is also another window's"));
            }
            if self.windows.get(*id).is_none_or(|w| w.kind != WindowKind::Popup) {
                return Err(format!("popup {id} is not a popup in the registry"));
            }
        }
        for info in self.windows.iter() {
            if !ids.contains(&info.id) {
                return Err(format!("the registry lists window {} that nothing owns", info.id));
            }
        }
        for w in self.space.elements() {
            match self.toplevels.iter().find(|t| &t.window == w) {
                Some(t) if t.id.is_some() && t.show != ShowState::Minimized => {}
                Some(t) => return Err(format!("a toplevel in the space has id {:?} and state {:?}", t.id, t.show)),
                None => return Err("the space holds a window that is no toplevel".into()),
            }
        }
        let mut shown = Vec::new();
        for t in &self.toplevels {
            let Some(id) = t.id else { continue };
            let Some(info) = self.windows.get(id) else {
                return Err(format!("window {id} is not in the registry"));
            };
            let override_redirect = t.window.x11_surface().is_some_and(|x| x.is_override_redirect());
            let kind = if override_redirect { WindowKind::Popup } else { WindowKind::Toplevel };
            if info.kind != kind || info.state != t.show {
                return Err(format!(
                    "window {id}: registry {:?} {:?}, toplevel {kind:?} {:?}",
                    info.kind, info.state, t.show
                ));
            }
            if let Some(name) = &info.output {
                if self.output_by_name(name).is_none() && !self.outputs.is_empty() {
                    return Err(format!("window {id} is recorded on output {name}, which does not exist"));
                }
            }
            let in_space = self.space.element_location(&t.window);
            if t.show == ShowState::Minimized {
                if in_space.is_some() {
                    return Err(format!("minimized window {id} is in the space"));
                }
                let size = t.window.geometry().size;
                let loc = t.location.unwrap_or_default();
                let back = Rect::new(loc.x, loc.y, size.w.max(1), size.h.max(1));
                if !self.on_some_output(back) {
                    return Err(format!("minimized window {id} would come back at {back:?}, on no output"));
                }
                continue;
            }
            let Some(loc) = in_space else {
                return Err(format!("window {id} ({:?}) has an id but is not in the space", t.show));
            };
            shown.push(id);
            if override_redirect {
                continue;
            }
            let size = t.window.geometry().size;
            let rect = Rect::new(loc.x, loc.y, size.w, size.h);
            if info.rect() != rect || t.location != Some(loc) {
                return Err(format!(
                    "window {id}: registry {:?}, space {rect:?}, toplevel location {:?}",
                    info.rect(),
                    t.location
                ));
            }
            if !self.on_some_output(Rect::new(rect.x, rect.y, rect.width.max(1), rect.height.max(1))) {
                return Err(format!("window {id} at {rect:?} is on no output"));
            }
            let mostly_on = self.output_for_rect(rect).map(|o| o.name.clone());
            if info.output != mostly_on {
                return Err(format!(
                    "window {id} at {rect:?} is recorded on {:?}, mostly on {mostly_on:?}",
                    info.output
                ));
            }
            let area = match t.show {
                ShowState::Maximized => {
                    mostly_on.as_deref().and_then(|n| self.output_by_name(n)).map(|o| self.maximize_area(o))
                }
                ShowState::Fullscreen => {
                    mostly_on.as_deref().and_then(|n| self.output_by_name(n)).map(|o| o.logical_rect())
                }
                _ => None,
            };
            if let Some(area) = area {
                let asked = t.window.toplevel().and_then(|tl| tl.with_pending_state(|s| s.size)).map(|s| (s.w, s.h));
                if (loc.x, loc.y) != (area.x, area.y) || asked.is_some_and(|a| a != (area.width, area.height)) {
                    return Err(format!(
                        "{:?} window {id} at {rect:?}, asked for {asked:?}: its output's area is {area:?}",
                        t.show
                    ));
                }
            }
        }
        // The registry's stacking: the windows on screen (and their popups), nothing else.
        let stacked: HashSet<WindowId> = self.windows.stacking().iter().copied().collect();
        for id in &shown {
            let is_x11 = self.toplevels.iter().any(|t| t.id == Some(*id) && window_root(&t.window).is_none());
            if !stacked.contains(id) && !is_x11 {
                return Err(format!("window {id} is on screen but not in the stacking {:?}", self.windows.stacking()));
            }
        }
        for id in &stacked {
            if !shown.contains(id) && !self.popup_windows.contains_key(id) {
                return Err(format!("window {id} is stacked but not on screen"));
            }
        }
        if let Some(active) = self.windows.active() {
            if !stacked.contains(&active) {
                return Err(format!("the active window {active} is not on screen"));
            }
        }
        Ok(())
    }

    fn on_some_output(&self, rect: Rect) -> bool {
        self.outputs.iter().any(|o| o.logical_rect().intersection_area(&rect) > 0)
    }
}
