//! The window model: stable ids, the registry the IPC and remoting backends read, and the
//! stream of change events a remoting backend consumes. No Wayland types here, so the
//! bookkeeping is testable on its own.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::time::Instant;

use serde::Serialize;

/// A window's identity for its whole life; maps 1:1 to a RAIL window id. Never 0 and never
/// reused while the window is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct WindowId(pub u32);

impl fmt::Display for WindowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    Toplevel,
    Popup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ShowState {
    #[default]
    Normal,
    Maximized,
    Minimized,
    Fullscreen,
}

/// A rectangle: in the compositor's global logical space, or in a host's pixels.
pub use wayrail_remote::Rect;

/// Everything the outside world may know about a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowInfo {
    pub id: WindowId,
    pub kind: WindowKind,
    pub title: String,
    pub app_id: String,
    pub pid: Option<i32>,
    /// Transient parent of a toplevel, or the window a popup belongs to.
    pub parent: Option<WindowId>,
    /// Window geometry (without client-side shadows) in global logical coordinates.
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
    pub state: ShowState,
    /// The output the window is mostly on.
    pub output: Option<String>,
    pub scale: f64,
    pub activated: bool,
}

impl WindowInfo {
    pub fn rect(&self) -> Rect {
        Rect::new(self.x, self.y, self.width, self.height)
    }
}

/// A rectangle in the pixels of a window's composed image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DamageRect {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

impl DamageRect {
    /// More than any window: drawing clips it to the window, so the whole window redraws.
    pub const EVERYTHING: DamageRect = DamageRect { x: -(1 << 24), y: -(1 << 24), width: 1 << 25, height: 1 << 25 };
}

/// What a remoting backend is told. The compositor never waits for anyone to read these.
#[derive(Debug, Clone, PartialEq)]
pub enum WindowEvent {
    Created(WindowInfo),
    /// Title, app id, parent or pid changed.
    MetadataChanged(WindowInfo),
    GeometryChanged(WindowInfo),
    StateChanged(WindowInfo),
    /// New content was committed; rects are in the window's buffer pixels.
    Damaged {
        id: WindowId,
        rects: Vec<DamageRect>,
    },
    /// Bottom to top, visible windows only, and the window with keyboard focus.
    StackingChanged {
        order: Vec<WindowId>,
        active: Option<WindowId>,
    },
    Destroyed(WindowId),
    /// The app asked to be moved (`edges` None) or resized interactively, and the host can
    /// do it natively (`State::host_move_resize`): pointer at `x`, `y` (global logical).
    MoveResizeRequested {
        id: WindowId,
        edges: Option<u32>,
        x: f64,
        y: f64,
    },
    /// The button that started a host-side move (from a title bar) went up: the move is over.
    MoveResizeEnded(WindowId),
}

/// Hands out window ids. Ids grow and wrap around, skipping ids still in use, so an id seen
/// by a remote host never points at another window while the first one lives.
#[derive(Debug)]
pub struct IdAllocator {
    next: u32,
}

impl Default for IdAllocator {
    fn default() -> Self {
        Self { next: 1 }
    }
}

impl IdAllocator {
    pub fn allocate(&mut self, in_use: impl Fn(WindowId) -> bool) -> WindowId {
        loop {
            let id = WindowId(self.next);
            self.next = self.next.checked_add(1).unwrap_or(1);
            if !in_use(id) {
                return id;
            }
        }
    }

    #[cfg(test)]
    pub fn starting_at(next: u32) -> Self {
        Self { next }
    }
}

/// The registry of live windows with a bounded event queue for the remoting backend.
#[derive(Debug, Default)]
pub struct WindowRegistry {
    ids: IdAllocator,
    windows: BTreeMap<WindowId, WindowInfo>,
    /// Bottom to top.
    stacking: Vec<WindowId>,
    active: Option<WindowId>,
    events: VecDeque<WindowEvent>,
    /// Whether anybody consumes events; without a consumer nothing is queued.
    subscribed: bool,
    /// When each window's oldest commit the consumer has not sent on yet came (only with a
    /// consumer): where the commit → frame written figure starts (`wayrail msg frames`).
    committed: HashMap<WindowId, Instant>,
}

/// The most events kept for a slow consumer before the oldest damage events are coalesced.
const EVENT_QUEUE_LIMIT: usize = 4096;

impl WindowRegistry {
    pub fn subscribe(&mut self) {
        self.subscribed = true;
    }

    pub fn insert(&mut self, mut info: WindowInfo) -> WindowId {
        let id = self.ids.allocate(|id| self.windows.contains_key(&id));
        info.id = id;
        self.windows.insert(id, info.clone());
        self.push(WindowEvent::Created(info));
        id
    }

    pub fn get(&self, id: WindowId) -> Option<&WindowInfo> {
        self.windows.get(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &WindowInfo> {
        self.windows.values()
    }

    pub fn len(&self) -> usize {
        self.windows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Applies `f` and reports what changed, if anything.
    pub fn update(&mut self, id: WindowId, f: impl FnOnce(&mut WindowInfo)) {
        let Some(info) = self.windows.get_mut(&id) else {
            return;
        };
        let before = info.clone();
        f(info);
        let after = info.clone();
        if before == after {
            return;
        }
        if before.title != after.title
            || before.app_id != after.app_id
            || before.parent != after.parent
            || before.pid != after.pid
        {
            self.push(WindowEvent::MetadataChanged(after.clone()));
        }
        if before.state != after.state {
            self.push(WindowEvent::StateChanged(after.clone()));
        }
        if before.rect() != after.rect() || before.output != after.output || before.scale != after.scale {
            self.push(WindowEvent::GeometryChanged(after));
        }
    }

    pub fn remove(&mut self, id: WindowId) -> Option<WindowInfo> {
        let info = self.windows.remove(&id)?;
        self.committed.remove(&id);
        self.push(WindowEvent::Destroyed(id));
        let before = self.stacking.len();
        self.stacking.retain(|w| *w != id);
        let was_active = self.active == Some(id);
        if was_active {
            self.active = None;
        }
        if before != self.stacking.len() || was_active {
            self.push_stacking();
        }
        Some(info)
    }

    pub fn move_resize_requested(&mut self, id: WindowId, edges: Option<u32>, x: f64, y: f64) {
        if self.windows.contains_key(&id) {
            self.push(WindowEvent::MoveResizeRequested { id, edges, x, y });
        }
    }

    pub fn move_resize_ended(&mut self, id: WindowId) {
        if self.windows.contains_key(&id) {
            self.push(WindowEvent::MoveResizeEnded(id));
        }
    }

    pub fn damaged(&mut self, id: WindowId, rects: Vec<DamageRect>) {
        if rects.is_empty() || !self.windows.contains_key(&id) {
            return;
        }
        if self.subscribed {
            self.committed.entry(id).or_insert_with(Instant::now);
        }
        self.push(WindowEvent::Damaged { id, rects });
    }

    /// When the oldest commit of `id` not taken yet came (see [`WindowRegistry::damaged`]);
    /// the consumer takes it with the frame that carries the commit.
    pub fn take_commit_time(&mut self, id: WindowId) -> Option<Instant> {
        self.committed.remove(&id)
    }

    /// Sets the visible stacking (bottom to top) and the active window; reports a change.
    pub fn set_stacking(&mut self, order: Vec<WindowId>, active: Option<WindowId>) {
        for (id, info) in self.windows.iter_mut() {
            info.activated = Some(*id) == active;
        }
        if order != self.stacking || active != self.active {
            self.stacking = order;
            self.active = active;
            self.push_stacking();
        }
    }

    pub fn stacking(&self) -> &[WindowId] {
        &self.stacking
    }

    pub fn active(&self) -> Option<WindowId> {
        self.active
    }

    pub fn drain_events(&mut self) -> impl Iterator<Item = WindowEvent> + '_ {
        self.events.drain(..)
    }

    fn push_stacking(&mut self) {
        self.push(WindowEvent::StackingChanged { order: self.stacking.clone(), active: self.active });
    }

    fn push(&mut self, event: WindowEvent) {
        if !self.subscribed {
            return;
        }
        if self.events.len() >= EVENT_QUEUE_LIMIT {
            // A consumer this far behind wants the current state, not history: drop damage
            // (the next damage or a full refresh repaints) before anything structural.
            self.events.retain(|e| !matches!(e, WindowEvent::Damaged { .. }));
            if self.events.len() >= EVENT_QUEUE_LIMIT {
                tracing::warn!("window event queue full; dropping the oldest event");
                self.events.pop_front();
            }
        }
        self.events.push_back(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(title: &str) -> WindowInfo {
        WindowInfo {
            id: WindowId(0),
            kind: WindowKind::Toplevel,
            title: title.into(),
            app_id: String::new(),
            pid: None,
            parent: None,
            x: 0,
            y: 0,
            width: 10,
            height: 10,
            state: ShowState::Normal,
            output: None,
            scale: 1.0,
            activated: false,
        }
    }

    #[test]
    fn ids_are_never_zero_nor_reused_while_alive() {
        let mut reg = WindowRegistry { ids: IdAllocator::starting_at(u32::MAX - 1), ..Default::default() };
        let a = reg.insert(info("a"));
        let b = reg.insert(info("b"));
        let c = reg.insert(info("c"));
        assert_eq!((a.0, b.0, c.0), (u32::MAX - 1, u32::MAX, 1));
        reg.ids = IdAllocator::starting_at(u32::MAX - 1);
        reg.remove(b);
        let d = reg.insert(info("d"));
        assert_eq!(d, b, "a freed id may come back");
        let e = reg.insert(info("e"));
        assert_eq!(e.0, 2, "ids in use ({} and 1) are skipped", a.0);
    }

    #[test]
    fn update_reports_only_what_changed() {
        let mut reg = WindowRegistry::default();
        reg.subscribe();
        let id = reg.insert(info("a"));
        reg.drain_events().for_each(drop);
        reg.update(id, |w| w.title = "b".into());
        reg.update(id, |w| w.title = "b".into());
        reg.update(id, |w| w.x = 5);
        reg.update(id, |w| w.state = ShowState::Maximized);
        let ev: Vec<_> = reg.drain_events().collect();
        assert_eq!(ev.len(), 3, "{ev:?}");
        assert!(matches!(&ev[0], WindowEvent::MetadataChanged(w) if w.title == "b"));
        assert!(matches!(&ev[1], WindowEvent::GeometryChanged(w) if w.x == 5));
        assert!(matches!(&ev[2], WindowEvent::StateChanged(w) if w.state == ShowState::Maximized));
    }

    #[test]
    fn removing_the_active_window_reports_stacking() {
        let mut reg = WindowRegistry::default();
        reg.subscribe();
        let a = reg.insert(info("a"));
        let b = reg.insert(info("b"));
        reg.set_stacking(vec![a, b], Some(b));
        assert!(reg.get(b).unwrap().activated);
        reg.drain_events().for_each(drop);
        reg.remove(b);
        let ev: Vec<_> = reg.drain_events().collect();
        assert_eq!(ev, vec![WindowEvent::Destroyed(b), WindowEvent::StackingChanged { order: vec![a], active: None }]);
    }

    #[test]
    fn a_slow_consumer_loses_damage_before_structure() {
        let mut reg = WindowRegistry::default();
        reg.subscribe();
        let a = reg.insert(info("a"));
        for _ in 0..EVENT_QUEUE_LIMIT + 10 {
            reg.damaged(a, vec![DamageRect { x: 0, y: 0, width: 1, height: 1 }]);
        }
        reg.remove(a);
        let ev: Vec<_> = reg.drain_events().collect();
        assert!(matches!(ev[0], WindowEvent::Created(_)));
        assert!(ev.contains(&WindowEvent::Destroyed(a)));
        assert!(ev.len() <= EVENT_QUEUE_LIMIT);
    }

    #[test]
    fn no_consumer_queues_nothing() {
        let mut reg = WindowRegistry::default();
        let a = reg.insert(info("a"));
        reg.damaged(a, vec![DamageRect { x: 0, y: 0, width: 1, height: 1 }]);
        assert_eq!(reg.drain_events().count(), 0);
    }

    #[test]
    fn a_frame_is_timed_from_its_oldest_commit() {
        let mut reg = WindowRegistry::default();
        let a = reg.insert(info("a"));
        let damage = || vec![DamageRect { x: 0, y: 0, width: 1, height: 1 }];
        reg.damaged(a, damage());
        assert_eq!(reg.take_commit_time(a), None, "no consumer, no times");
        reg.subscribe();
        let before = Instant::now();
        reg.damaged(a, damage());
        std::thread::sleep(std::time::Duration::from_millis(2));
        reg.damaged(a, damage());
        let first = reg.take_commit_time(a).expect("a commit time");
        assert!(first >= before && first.elapsed() >= std::time::Duration::from_millis(2), "the oldest commit");
        assert_eq!(reg.take_commit_time(a), None, "taken once");
        reg.damaged(a, damage());
        reg.remove(a);
        assert_eq!(reg.take_commit_time(a), None, "gone with the window");
    }

    #[test]
    fn rect_math() {
        let a = Rect::new(0, 0, 100, 100);
        assert_eq!(a.intersection_area(&Rect::new(50, 50, 100, 100)), 2500);
        assert_eq!(a.intersection_area(&Rect::new(100, 0, 10, 10)), 0);
        assert!(a.contains(99.5, 0.0) && !a.contains(100.0, 0.0));
    }
}
