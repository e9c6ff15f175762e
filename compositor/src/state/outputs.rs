//! Outputs, and the host's monitors as outputs: the logical layout, windows kept on it.

use std::time::Duration;

use smithay::output::{Mode, Output, PhysicalProperties, Scale, Subpixel};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{Rectangle, Transform};

use super::{window_root, Core, State};
use crate::config::OutputSpec;
use crate::window::{Rect, ShowState, WindowId};

/// A virtual monitor.
#[derive(Debug, Clone)]
pub struct OutputEntry {
    pub output: Output,
    pub name: String,
    /// Physical size in pixels.
    pub physical_size: (i32, i32),
    pub refresh_mhz: i32,
    pub scale: f64,
    /// Top-left in global logical coordinates.
    pub position: (i32, i32),
    /// Where it is on the host, in physical pixels of the host's virtual desktop (the
    /// primary monitor's top-left is 0,0). Without a host's monitor layout: the logical
    /// position and the physical size.
    pub host_rect: Rect,
    pub primary: bool,
}

impl OutputEntry {
    pub fn logical_rect(&self) -> Rect {
        let size = logical_size(self.physical_size, self.scale);
        Rect::new(self.position.0, self.position.1, size.0, size.1)
    }

    /// A host point on this output to the global logical space.
    pub fn host_to_logical(&self, x: f64, y: f64) -> (f64, f64) {
        crate::layout::to_logical(self.host_rect, self.position, self.scale, x, y)
    }

    /// A logical rectangle (on this output, or reaching past it) in host pixels.
    pub fn logical_to_host(&self, rect: Rect) -> Rect {
        crate::layout::to_physical(self.host_rect, self.position, self.scale, rect)
    }

    /// A host rectangle on this output in logical coordinates.
    pub fn host_to_logical_rect(&self, rect: Rect) -> Rect {
        crate::layout::rect_to_logical(self.host_rect, self.position, self.scale, rect)
    }

    pub fn frame_interval(&self) -> Duration {
        Duration::from_micros(1_000_000_000 / self.refresh_mhz.max(1000) as u64)
    }
}

/// The logical size of a physical size at a scale, as smithay computes it for outputs.
pub fn logical_size(physical: (i32, i32), scale: f64) -> (i32, i32) {
    ((physical.0 as f64 / scale).round() as i32, (physical.1 as f64 / scale).round() as i32)
}

impl Core {
    pub fn add_output(&mut self, spec: &OutputSpec) -> Output {
        let name = spec.name.clone().unwrap_or_else(|| {
            (1..).map(|n| format!("WR-{n}")).find(|n| !self.outputs.iter().any(|o| &o.name == n)).unwrap()
        });
        let position = spec.position.unwrap_or_else(|| {
            let right = self.outputs.iter().map(|o| o.logical_rect()).map(|r| r.x + r.width).max().unwrap_or(0);
            (right, 0)
        });
        let output = Output::new(
            name.clone(),
            PhysicalProperties {
                size: (0, 0).into(),
                subpixel: Subpixel::Unknown,
                make: "wayrail".into(),
                model: "virtual".into(),
            },
        );
        let mode = Mode { size: (spec.width, spec.height).into(), refresh: spec.refresh };
        let _global = output.create_global::<State>(&self.display_handle);
        output.change_current_state(
            Some(mode),
            Some(Transform::Normal),
            Some(Scale::Fractional(spec.scale)),
            Some(position.into()),
        );
        output.set_preferred(mode);
        self.space.map_output(&output, position);
        tracing::info!(%name, width = spec.width, height = spec.height, scale = spec.scale, x = position.0, y = position.1, "output added");
        let primary = self.outputs.is_empty();
        self.outputs.push(OutputEntry {
            output: output.clone(),
            name,
            physical_size: (spec.width, spec.height),
            refresh_mhz: spec.refresh,
            scale: spec.scale,
            position,
            host_rect: Rect::new(position.0, position.1, spec.width, spec.height),
            primary,
        });
        self.output_damaged = true;
        self.update_xwayland_scale();
        output
    }

    /// Where a window maximized on an output goes: the host's work area on that monitor
    /// (without its taskbar), else the whole output.
    pub fn maximize_area(&self, output: &OutputEntry) -> Rect {
        let host = output.host_rect;
        self.work_areas
            .iter()
            .filter_map(|wa| host.intersection(wa))
            .max_by_key(|r| r.width as i64 * r.height as i64)
            .map(|r| output.host_to_logical_rect(r))
            .unwrap_or_else(|| output.logical_rect())
    }

    /// The output whose monitor holds most of a host rectangle; the primary when it is on
    /// none.
    pub fn output_for_host_rect(&self, rect: Rect) -> Option<&OutputEntry> {
        self.outputs
            .iter()
            .map(|o| (o.host_rect.intersection_area(&rect), o))
            .filter(|(area, _)| *area > 0)
            .max_by_key(|(area, _)| *area)
            .map(|(_, o)| o)
            .or_else(|| self.outputs.iter().find(|o| o.primary))
            .or_else(|| self.outputs.first())
    }

    /// A host point (physical pixels of its virtual desktop) to the global logical space:
    /// through the output whose host rectangle holds it, else the nearest one.
    pub fn host_to_logical(&self, x: f64, y: f64) -> (f64, f64) {
        let distance = |o: &&OutputEntry| {
            let r = o.host_rect;
            let dx = (r.x as f64 - x).max(x - (r.x + r.width - 1) as f64).max(0.0);
            let dy = (r.y as f64 - y).max(y - (r.y + r.height - 1) as f64).max(0.0);
            dx + dy
        };
        match self.outputs.iter().min_by(|a, b| distance(a).total_cmp(&distance(b))) {
            Some(o) => {
                let r = o.host_rect;
                let x = x.clamp(r.x as f64, (r.x + r.width) as f64 - 0.001);
                let y = y.clamp(r.y as f64, (r.y + r.height) as f64 - 0.001);
                o.host_to_logical(x, y)
            }
            None => (x, y),
        }
    }

    /// The frame clock's interval: the first output's refresh (60 Hz without outputs).
    pub fn frame_interval(&self) -> Duration {
        self.outputs.first().map_or(Duration::from_micros(16_667), |o| o.frame_interval())
    }

    /// The bounding box of every output's host rectangle.
    pub fn host_desktop(&self) -> Rect {
        let left = self.outputs.iter().map(|o| o.host_rect.x).min().unwrap_or(0);
        let top = self.outputs.iter().map(|o| o.host_rect.y).min().unwrap_or(0);
        let right = self.outputs.iter().map(|o| o.host_rect.x + o.host_rect.width).max().unwrap_or(0);
        let bottom = self.outputs.iter().map(|o| o.host_rect.y + o.host_rect.height).max().unwrap_or(0);
        Rect::new(left, top, right - left, bottom - top)
    }

    pub fn output_by_name(&self, name: &str) -> Option<&OutputEntry> {
        self.outputs.iter().find(|o| o.name == name)
    }

    /// The output a rectangle is mostly on; the first output when it is on none.
    pub fn output_for_rect(&self, rect: Rect) -> Option<&OutputEntry> {
        self.outputs
            .iter()
            .map(|o| (o.logical_rect().intersection_area(&rect), o))
            .filter(|(area, _)| *area > 0)
            .max_by_key(|(area, _)| *area)
            .map(|(_, o)| o)
            .or_else(|| self.outputs.first())
    }

    pub fn output_at(&self, x: f64, y: f64) -> Option<&OutputEntry> {
        self.outputs.iter().find(|o| o.logical_rect().contains(x, y))
    }
}

impl State {
    pub fn remove_output(&mut self, name: &str) {
        let Some(index) = self.outputs.iter().position(|o| o.name == name) else { return };
        let entry = self.outputs.remove(index);
        self.space.unmap_output(&entry.output);
        self.composer.forget_output(name);
        tracing::info!(%name, "output removed");
        self.output_damaged = true;
        self.update_xwayland_scale();
    }

    /// Takes the host's monitors as the outputs: output i becomes monitor i (existing outputs
    /// are reused in order, keeping their names; extra ones are removed), laid out as
    /// [`crate::layout::logical_origins`] says. Windows keep their physical place on their
    /// monitor; those left off every output, or reaching off the desktop, are brought back
    /// onto it; maximized and fullscreen windows take their new output's size; every window
    /// is told its output's scale again.
    pub fn set_host_layout(&mut self, monitors: &[crate::layout::PhysMonitor]) {
        if monitors.is_empty() {
            return;
        }
        let origins = crate::layout::logical_origins(monitors);
        // Where each window is on its monitor, in physical pixels, to keep it there.
        let places: Vec<(WindowId, String, (f64, f64))> = self
            .toplevels
            .iter()
            .filter(|t| !t.window.x11_surface().is_some_and(|x| x.is_override_redirect()))
            .filter_map(|t| {
                let id = t.id?;
                let loc = self.space.element_location(&t.window).or(t.location)?;
                let size = t.window.geometry().size;
                let o = self.output_for_rect(Rect::new(loc.x, loc.y, size.w.max(1), size.h.max(1)))?;
                let rel = ((loc.x - o.position.0) as f64 * o.scale, (loc.y - o.position.1) as f64 * o.scale);
                Some((id, o.name.clone(), rel))
            })
            .collect();
        for (i, (m, &position)) in monitors.iter().zip(&origins).enumerate() {
            if i < self.outputs.len() {
                let entry = &mut self.outputs[i];
                let mode = Mode { size: (m.rect.width, m.rect.height).into(), refresh: entry.refresh_mhz };
                entry.output.change_current_state(
                    Some(mode),
                    None,
                    Some(Scale::Fractional(m.scale)),
                    Some(position.into()),
                );
                entry.output.set_preferred(mode);
                entry.physical_size = (m.rect.width, m.rect.height);
                entry.scale = m.scale;
                entry.position = position;
                entry.host_rect = m.rect;
                entry.primary = m.primary;
                let output = entry.output.clone();
                self.space.map_output(&output, position);
            } else {
                let spec = OutputSpec {
                    name: None,
                    width: m.rect.width,
                    height: m.rect.height,
                    refresh: self.outputs.first().map_or(60_000, |o| o.refresh_mhz),
                    scale: m.scale,
                    position: Some(position),
                };
                self.add_output(&spec);
                let entry = self.outputs.last_mut().unwrap();
                entry.host_rect = m.rect;
                entry.primary = m.primary;
            }
        }
        let extra: Vec<String> = self.outputs[monitors.len()..].iter().map(|o| o.name.clone()).collect();
        for name in extra {
            self.remove_output(&name);
        }
        for o in &self.core.outputs {
            self.composer.forget_output(&o.name);
        }
        tracing::info!(
            outputs = ?self.outputs.iter().map(|o| (&o.name, o.host_rect, o.logical_rect(), o.scale)).collect::<Vec<_>>(),
            "host monitor layout"
        );
        for (id, name, rel) in places {
            let Some(o) = self.output_by_name(&name) else { continue };
            let at = (o.position.0 + (rel.0 / o.scale).round() as i32, o.position.1 + (rel.1 / o.scale).round() as i32);
            let Some(index) = self.toplevel_index_by_id(id) else { continue };
            match self.toplevels[index].show {
                ShowState::Normal => {
                    self.move_window(id, at.0, at.1);
                }
                ShowState::Minimized => self.toplevels[index].location = Some(at.into()),
                // Placed on their output again below.
                ShowState::Maximized | ShowState::Fullscreen => {}
            }
        }
        // X11 apps take the largest scale (see `update_xwayland_scale`).
        self.update_xwayland_scale();
        self.rescue_windows();
        // Toplevels not mapped yet were told the scale of an output that may have changed.
        let unmapped: Vec<WlSurface> =
            self.toplevels.iter().filter(|t| t.id.is_none()).filter_map(|t| window_root(&t.window)).collect();
        if let Some(name) = self.placement_output_name() {
            for root in unmapped {
                if let Some(index) = self.toplevel_index(&root) {
                    self.toplevels[index].preferred_output = Some(name.clone());
                }
                self.send_preferred_scale(&root, &name);
            }
        }
        self.output_damaged = true;
    }
}

impl State {
    /// After the outputs changed: windows nobody can see come back onto the primary output,
    /// windows reaching off the desktop move onto the output they are mostly on (as far as
    /// they fit), and maximized or fullscreen windows fit their output again.
    pub(super) fn rescue_windows(&mut self) {
        let ids: Vec<WindowId> = self.toplevels.iter().filter_map(|t| t.id).collect();
        for id in ids {
            let Some(index) = self.toplevel_index_by_id(id) else { continue };
            let entry = &self.toplevels[index];
            let show = entry.show;
            if entry.window.x11_surface().is_some_and(|x| x.is_override_redirect()) {
                continue;
            }
            let Some(loc) = self.space.element_location(&entry.window).or(entry.location) else { continue };
            let size = entry.window.geometry().size;
            let rect = Rect::new(loc.x, loc.y, size.w.max(1), size.h.max(1));
            let seen = self.outputs.iter().any(|o| o.logical_rect().intersection_area(&rect) > 0);
            // All of it on the desktop (possibly across monitors)?
            let on_desktop: i64 = self.outputs.iter().map(|o| o.logical_rect().intersection_area(&rect)).sum();
            let fully_on = on_desktop >= rect.width as i64 * rect.height as i64;
            let target = if seen { self.output_for_rect(rect) } else { self.outputs.iter().find(|o| o.primary) }
                .map(|o| o.logical_rect());
            let restore_show = self.toplevels[index].restore_show;
            if matches!(show, ShowState::Maximized | ShowState::Fullscreen)
                || matches!(restore_show, Some(ShowState::Maximized | ShowState::Fullscreen))
            {
                // Where unmaximize puts it must be on the desktop too.
                self.rescue_restore_rect(index);
            }
            match show {
                ShowState::Maximized => {
                    self.set_maximized(id, true);
                }
                ShowState::Fullscreen => {
                    if let Some(index) = self.toplevel_index_by_id(id) {
                        let output = target
                            .and_then(|t| self.outputs.iter().find(|o| o.logical_rect() == t))
                            .map(|o| o.output.clone());
                        self.set_toplevel_fullscreen(index, true, output.as_ref());
                    }
                }
                _ if !seen || !fully_on => {
                    if let Some(area) = target {
                        let (x, y) = bring_onto(area, rect);
                        tracing::debug!(%id, from = ?(loc.x, loc.y), to = ?(x, y), "window brought back onto the desktop");
                        if show == ShowState::Minimized {
                            // Where it comes back when restored; it stays minimized.
                            self.toplevels[index].location = Some((x, y).into());
                        } else {
                            self.move_window(id, x, y);
                        }
                    }
                }
                _ => {}
            }
            if let Some(index) = self.toplevel_index_by_id(id) {
                // Scales may have changed on an output of the same name.
                self.toplevels[index].preferred_output = None;
            }
            self.sync_window_info(id);
        }
    }

    /// Brings the rectangle a maximized or fullscreen window goes back to onto the desktop:
    /// onto the output it is mostly on, or the primary when it is on none.
    fn rescue_restore_rect(&mut self, index: usize) {
        let Some(restore) = self.toplevels[index].restore else { return };
        let rect = Rect::new(restore.loc.x, restore.loc.y, restore.size.w.max(1), restore.size.h.max(1));
        let on_desktop: i64 = self.outputs.iter().map(|o| o.logical_rect().intersection_area(&rect)).sum();
        if on_desktop >= rect.width as i64 * rect.height as i64 {
            return;
        }
        let target = if on_desktop > 0 { self.output_for_rect(rect) } else { self.outputs.iter().find(|o| o.primary) };
        let Some(area) = target.map(|o| o.logical_rect()) else { return };
        let (x, y) = bring_onto(area, rect);
        self.toplevels[index].restore = Some(Rectangle::new((x, y).into(), restore.size));
    }

    /// Changes an output's physical size (the host window or monitor was resized).
    pub fn resize_output(&mut self, name: &str, width: i32, height: i32) {
        let Some(entry) = self.outputs.iter_mut().find(|o| o.name == name) else { return };
        let mode = Mode { size: (width, height).into(), refresh: entry.refresh_mhz };
        entry.output.change_current_state(Some(mode), None, None, None);
        entry.output.set_preferred(mode);
        entry.physical_size = (width, height);
        entry.host_rect.width = width;
        entry.host_rect.height = height;
        let (output, position) = (entry.output.clone(), entry.position);
        self.space.map_output(&output, position);
        self.output_damaged = true;
        let ids: Vec<WindowId> = self.toplevels.iter().filter_map(|t| t.id).collect();
        for id in ids {
            self.sync_window_info(id);
        }
    }
}

/// Where `rect` goes to be inside `area` (its top-left corner, when it is larger), moved as
/// little as possible.
fn bring_onto(area: Rect, rect: Rect) -> (i32, i32) {
    let x = rect.x.clamp(area.x, (area.x + area.width - rect.width.min(area.width)).max(area.x));
    let y = rect.y.clamp(area.y, (area.y + area.height - rect.height.min(area.height)).max(area.y));
    (x, y)
}
