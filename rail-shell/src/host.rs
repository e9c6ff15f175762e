//! The windows a RemoteApp host shows, kept in step with what the compositor wants shown:
//! the one record of what the host was told, the windowing orders for each change, and the
//! choice of one EGFX surface per window mapped the way this host can show it. Pure state:
//! the RDP session carries the orders and PDUs it yields.

use std::collections::{BTreeMap, HashMap};

use ironrdp_egfx::pdu::{CapabilitySet, GfxPdu, MapSurfaceToOutputPdu, MapSurfaceToScaledWindowPdu};
use ironrdp_pdu::window::WindowingOrder;

use crate::{orders, RemoteWindow};

/// An EGFX surface a window's image is drawn on, as the session made it.
pub trait WindowSurface {
    fn surface_id(&self) -> u16;
    /// Its size in pixels.
    fn size(&self) -> (u16, u16);
}

/// How window surfaces reach the host's windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// The host scales the surface into the window (mstsc, FreeRDP 3).
    ScaledWindow,
    /// FreeRDP 2.x disables scaled mapping and only draws surfaces mapped to the output: the
    /// surface sits on the desktop at the window's place and the window is cut from it.
    Output,
}

impl Mapping {
    pub fn for_caps(caps: Option<&CapabilitySet>) -> Mapping {
        match caps {
            Some(CapabilitySet::V10_7 { flags })
                if flags.contains(ironrdp_egfx::pdu::CapabilitiesV107Flags::SCALEDMAP_DISABLE) =>
            {
                Mapping::Output
            }
            _ => Mapping::ScaledWindow,
        }
    }
}

/// Changes to the host's windows, from the compositor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RailCommand {
    /// Create or update a window.
    Upsert(RemoteWindow),
    Remove(u32),
    /// The z-order, top first, and the active window.
    Stacking {
        top_first: Vec<u32>,
        active: Option<u32>,
    },
    /// Hand an interactive move (`edges` None) or resize (xdg_toplevel resize edges) to the
    /// host, with the pointer at `x`, `y`.
    LocalMoveSize {
        window: u32,
        edges: Option<u32>,
        x: i32,
        y: i32,
    },
    /// The move the host did for `window` is over (the pointer's button went up after a
    /// `LocalMoveSize`): the window is at `x`, `y`. Hosts that report the end themselves (a
    /// WindowMove) need not get this; FreeRDP's X11 client waits for it.
    EndLocalMoveSize {
        window: u32,
        x: i32,
        y: i32,
    },
    /// The answer to the host's GetAppId for a window.
    AppId {
        window: u32,
        app_id: String,
        pid: u32,
        executable: String,
    },
    /// A window's icon, `size`×`size` straight-alpha BGRA; `big` for the taskbar.
    Icon {
        window: u32,
        big: bool,
        size: u16,
        bgra: Vec<u8>,
    },
}

/// The RDP move/size kind for xdg_toplevel resize edges (None: a move).
pub fn move_size_type(edges: Option<u32>) -> ironrdp_rail::MoveSizeType {
    use ironrdp_rail::MoveSizeType as M;
    match edges {
        None => M::Move,
        Some(1) => M::Top,
        Some(2) => M::Bottom,
        Some(4) => M::Left,
        Some(5) => M::TopLeft,
        Some(6) => M::BottomLeft,
        Some(8) => M::Right,
        Some(9) => M::TopRight,
        Some(10) => M::BottomRight,
        Some(_) => M::Move,
    }
}

pub struct RailState<S> {
    /// The client finished the RAIL handshake.
    pub ready: bool,
    hooked: bool,
    /// What the host shows.
    pub known: HashMap<u32, RemoteWindow>,
    /// What the compositor wants shown.
    pub wanted: BTreeMap<u32, RemoteWindow>,
    stacking: (Vec<u32>, Option<u32>),
    pub surfaces: HashMap<u32, S>,
    /// Windows the host is moving or sizing for us (LocalMoveSize started).
    pub moving: std::collections::HashSet<u32>,
    /// Icon orders by (window, big).
    icons: HashMap<(u32, bool), WindowingOrder>,
}

/// What the session must do for a change: orders to write, and windows whose surface must be
/// (re)created.
#[derive(Default)]
pub struct Actions {
    pub orders: Vec<WindowingOrder>,
    pub surfaces: Vec<u32>,
    pub deleted_surfaces: Vec<u16>,
    /// Output-mapped surfaces that must follow their window's new position.
    pub remap: Vec<u32>,
    /// Start a host-side move/size: window, edges, pointer position.
    pub local_move_size: Option<(u32, Option<u32>, i32, i32)>,
    /// Further PDUs for the rail channel.
    pub rail_messages: Vec<ironrdp_svc::SvcMessage>,
}

impl<S> Default for RailState<S> {
    fn default() -> Self {
        RailState {
            ready: false,
            hooked: false,
            known: HashMap::new(),
            wanted: BTreeMap::new(),
            stacking: Default::default(),
            surfaces: HashMap::new(),
            moving: Default::default(),
            icons: HashMap::new(),
        }
    }
}

impl<S: WindowSurface> RailState<S> {
    pub fn apply(&mut self, command: RailCommand, actions: &mut Actions) {
        match command {
            RailCommand::Upsert(w) => {
                let id = w.id;
                self.wanted.insert(id, w);
                if self.ready {
                    self.sync(id, actions);
                }
            }
            RailCommand::Remove(id) => {
                self.wanted.remove(&id);
                self.icons.retain(|(w, _), _| *w != id);
                if self.known.remove(&id).is_some() {
                    actions.orders.push(orders::delete_window(id));
                }
                if let Some(s) = self.surfaces.remove(&id) {
                    actions.deleted_surfaces.push(s.surface_id());
                }
            }
            RailCommand::Stacking { top_first, active } => {
                self.stacking = (top_first, active);
                if self.ready {
                    actions.orders.push(self.desktop_order());
                }
            }
            RailCommand::Icon { window, big, size, bgra } => {
                if let Some(order) = orders::icon(window, big, size, &bgra) {
                    // Kept, so a window announced later (or again) gets it right after its new order.
                    self.icons.insert((window, big), order.clone());
                    if self.ready && self.known.contains_key(&window) {
                        actions.orders.push(order);
                    }
                }
            }
            RailCommand::AppId { window, app_id, pid, executable } => {
                actions.rail_messages.push(crate::RailChannel::app_id_response(window, &app_id, pid, &executable));
            }
            RailCommand::LocalMoveSize { window, edges, x, y } => {
                if self.ready && self.known.contains_key(&window) {
                    actions.local_move_size = Some((window, edges, x, y));
                    self.moving.insert(window);
                }
            }
            RailCommand::EndLocalMoveSize { window, x, y } => {
                if self.moving.remove(&window) {
                    let clamp = |v: i32| v.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
                    actions.rail_messages.push(crate::RailChannel::local_move_size(
                        window,
                        false,
                        ironrdp_rail::MoveSizeType::Move,
                        clamp(x),
                        clamp(y),
                    ));
                }
            }
        }
    }

    /// The handshake is done: announce everything.
    pub fn on_ready(&mut self, actions: &mut Actions) {
        self.ready = true;
        let ids: Vec<u32> = self.wanted.keys().copied().collect();
        for id in ids {
            self.sync(id, actions);
        }
        actions.orders.push(self.desktop_order());
    }

    fn desktop_order(&self) -> WindowingOrder {
        let z: Vec<u32> = self.stacking.0.iter().copied().filter(|id| self.known.contains_key(id)).collect();
        let active = self.stacking.1.filter(|id| self.known.contains_key(id));
        orders::desktop_state(active, z)
    }

    fn sync(&mut self, id: u32, actions: &mut Actions) {
        let Some(want) = self.wanted.get(&id).cloned() else { return };
        if !self.hooked {
            self.hooked = true;
            actions.orders.push(orders::desktop_hooked());
        }
        match self.known.get(&id) {
            None => {
                actions.orders.push(orders::new_window(&want));
                for big in [false, true] {
                    if let Some(o) = self.icons.get(&(id, big)) {
                        actions.orders.push(o.clone());
                    }
                }
            }
            Some(old) => {
                if let Some(o) = orders::update_window(old, &want) {
                    actions.orders.push(o);
                }
                if old.window.x != want.window.x || old.window.y != want.window.y {
                    actions.remap.push(id);
                }
            }
        }
        // A new surface for a new image size, and for a new size on the host (the mapping
        // of a surface to a scaled window holds its target size).
        let (sw, sh) = want.surface_size();
        let same_target = self
            .known
            .get(&id)
            .is_some_and(|old| (old.window.width, old.window.height) == (want.window.width, want.window.height));
        let surface_ok =
            same_target && self.surfaces.get(&id).is_some_and(|s| (s.size().0 as u32, s.size().1 as u32) == (sw, sh));
        if !surface_ok {
            actions.surfaces.push(id);
        }
        self.known.insert(id, want);
    }

    /// The map PDU for a window's surface.
    pub fn map_pdu(&self, id: u32, surface_id: u16, mapping: Mapping) -> Option<GfxPdu> {
        let w = self.known.get(&id)?;
        let (mapped_width, mapped_height) = w.surface_size();
        Some(match mapping {
            Mapping::ScaledWindow => GfxPdu::MapSurfaceToScaledWindow(MapSurfaceToScaledWindowPdu {
                surface_id,
                window_id: id as u64,
                mapped_width,
                mapped_height,
                target_width: w.window.width,
                target_height: w.window.height,
            }),
            Mapping::Output => GfxPdu::MapSurfaceToOutput(MapSurfaceToOutputPdu {
                surface_id,
                output_origin_x: w.window.x.max(0) as u32,
                output_origin_y: w.window.y.max(0) as u32,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HostRect, Show, WindowKind};

    struct Surface(u16, u16, u16);

    impl WindowSurface for Surface {
        fn surface_id(&self) -> u16 {
            self.0
        }
        fn size(&self) -> (u16, u16) {
            (self.1, self.2)
        }
    }

    fn win(id: u32, x: i32) -> RemoteWindow {
        RemoteWindow {
            id,
            owner: 0,
            kind: WindowKind::Toplevel,
            title: format!("w{id}"),
            app_id: String::new(),
            window: HostRect::new(x, 10, 100, 50),
            client: HostRect::new(x, 10, 100, 50),
            show: Show::Normal,
            surface: None,
        }
    }

    #[test]
    fn a_local_move_ends_once_and_only_after_it_started() {
        let mut st = RailState::<Surface>::default();
        let mut a = Actions::default();
        st.apply(RailCommand::Upsert(win(1, 0)), &mut a);
        st.on_ready(&mut a);
        let mut a = Actions::default();
        st.apply(RailCommand::EndLocalMoveSize { window: 1, x: 5, y: 6 }, &mut a);
        assert!(a.rail_messages.is_empty(), "no move to end");
        st.apply(RailCommand::LocalMoveSize { window: 1, edges: None, x: 20, y: 20 }, &mut a);
        assert_eq!(a.local_move_size, Some((1, None, 20, 20)));
        st.apply(RailCommand::EndLocalMoveSize { window: 1, x: 5, y: 6 }, &mut a);
        assert_eq!(a.rail_messages.len(), 1, "the end of the move");
        assert!(st.moving.is_empty());
        st.apply(RailCommand::EndLocalMoveSize { window: 1, x: 5, y: 6 }, &mut a);
        assert_eq!(a.rail_messages.len(), 1, "ended already");
    }

    #[test]
    fn windows_wait_for_the_handshake_then_sync() {
        let mut st = RailState::<Surface>::default();
        let mut a = Actions::default();
        st.apply(RailCommand::Upsert(win(1, 0)), &mut a);
        st.apply(RailCommand::Stacking { top_first: vec![1], active: Some(1) }, &mut a);
        assert!(a.orders.is_empty() && a.surfaces.is_empty());
        st.on_ready(&mut a);
        assert_eq!(a.orders.len(), 3, "hooked, new window, desktop state");
        assert_eq!(a.surfaces, vec![1]);
        let mut a = Actions::default();
        st.apply(RailCommand::Upsert(win(1, 20)), &mut a);
        assert_eq!(a.orders.len(), 1);
        assert_eq!(a.remap, vec![1]);
        assert_eq!(a.surfaces, vec![1], "no surface yet: still wanted");
        let mut a = Actions::default();
        st.apply(RailCommand::Remove(1), &mut a);
        assert_eq!(a.orders.len(), 1);
        assert!(st.known.is_empty());
        assert!(crate::orders::update_data(&a.orders).unwrap().len() > 4);
    }
}
